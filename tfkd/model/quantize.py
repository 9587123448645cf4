"""Float <-> integer conversion with TFLite's arithmetic, the one place tfkd does it.

TFLite's QUANTIZE kernel (and the converter's input quantization) divides in float32, rounds
half away from zero (C's ``round``, not numpy's half-to-even) and clamps to the integer type.
DEQUANTIZE multiplies ``scale * (q - zero_point)`` in float32.
"""

import math

import numpy as np


def round_half_away(x):
    """C's ``round()`` on a scalar or array: halves go away from zero."""
    if np.isscalar(x):
        return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _integer_type(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"dtype={dtype} is not an integer type; expected int8, uint8, int16 or int32")
    return dtype


def quantize(x, scale, zero_point, dtype=np.int8):
    """``x`` (float) as integers of ``dtype``: ``clamp(round(x / scale) + zero_point)``, TFLite's rounding."""
    dtype = _integer_type(dtype)
    scale = np.float32(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale={float(scale)!r} is invalid; expected a finite value > 0")
    limits = np.iinfo(dtype)
    scaled = np.asarray(x, dtype=np.float32) / scale
    with np.errstate(invalid="ignore"):
        q = round_half_away(scaled.astype(np.float64)) + int(zero_point)
    return np.clip(np.nan_to_num(q), limits.min, limits.max).astype(dtype)


def dequantize(q, scale, zero_point):
    """Integers ``q`` back to float32: ``scale * (q - zero_point)`` in float32, as TFLite's DEQUANTIZE."""
    return (np.float32(scale) * (np.asarray(q, dtype=np.int64) - int(zero_point)).astype(np.float32)).astype(np.float32)
