"""Integer requantisation parameters, derived exactly as TFLite Micro derives them at Prepare time.

The generated C only applies fixed-point multipliers; deriving them here, with the same
float32/double steps as TFLite Micro, is what makes the outputs bit-identical. Sources of
truth: ``QuantizeMultiplier`` (quantization_util.cc), ``PopulateConvolutionQuantizationParams``
and ``GetQuantizedConvolutionMultipler`` (kernel_util.cc), ``CalculateOpDataAdd`` (add_common.cc).
"""

import math

import numpy as np

from tfkd.model import ModelError, quantize, round_half_away

INT8_MIN, INT8_MAX = -128, 127
# TFLite Micro's int8 ADD scales both inputs up by 2**20 before rescaling them.
ADD_LEFT_SHIFT = 20


def quantize_multiplier(real_multiplier):
    """Returns ``(multiplier, shift)`` with ``real ~= multiplier * 2**(shift - 31)``, multiplier in [2**30, 2**31)."""
    real_multiplier = float(real_multiplier)
    if not math.isfinite(real_multiplier) or real_multiplier < 0:
        raise ModelError(f"requantisation multiplier {real_multiplier!r} is invalid; expected a finite value >= 0")
    if real_multiplier == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real_multiplier)
    fixed = round_half_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        # Everything would be shifted out: TFLite flushes such multipliers to zero.
        return 0, 0
    return int(fixed), int(shift)


def per_channel_multipliers(input_scale, filter_scales, output_scale, channels):
    """CONV_2D / DEPTHWISE_CONV_2D / per-channel FULLY_CONNECTED: double(in) * double(filter) / double(out)."""
    filter_scales = np.asarray(filter_scales, dtype=np.float32)
    if filter_scales.size not in (1, channels):
        raise ModelError(f"filter has {filter_scales.size} scales; expected 1 or {channels} (one per output channel)")
    pairs = []
    for c in range(channels):
        scale = filter_scales[c if filter_scales.size > 1 else 0]
        pairs.append(quantize_multiplier(float(input_scale) * float(scale) / float(output_scale)))
    return [m for m, _ in pairs], [s for _, s in pairs]


def per_tensor_fc_multiplier(input_scale, filter_scale, output_scale):
    """Per-tensor FULLY_CONNECTED: the scale product is taken in float32 before widening to double."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(output_scale))


def _quantize_float(value, scale, zero_point):
    # TFLite Micro divides in float32 and rounds half away from zero, unclamped (the caller clamps).
    return int(quantize(value, scale, zero_point, np.int32))


def activation_range(activation, output_scale, output_zero_point):
    """The int8 clamp ``(min, max)`` of a fused activation ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")."""
    low, high = INT8_MIN, INT8_MAX
    if activation == "RELU":
        low = max(low, _quantize_float(0.0, output_scale, output_zero_point))
    elif activation == "RELU6":
        low = max(low, _quantize_float(0.0, output_scale, output_zero_point))
        high = min(high, _quantize_float(6.0, output_scale, output_zero_point))
    elif activation == "RELU_N1_TO_1":
        low = max(low, _quantize_float(-1.0, output_scale, output_zero_point))
        high = min(high, _quantize_float(1.0, output_scale, output_zero_point))
    elif activation != "NONE":
        raise ModelError(f"fused activation {activation} is not supported; expected NONE, RELU, RELU6 or RELU_N1_TO_1")
    return low, high


def add_multipliers(scale1, scale2, output_scale):
    """ADD: input multipliers onto a common 2**20-scaled grid and the output multiplier, all in double."""
    twice_max = 2.0 * float(max(np.float32(scale1), np.float32(scale2)))
    in1 = quantize_multiplier(float(scale1) / twice_max)
    in2 = quantize_multiplier(float(scale2) / twice_max)
    out = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * float(output_scale)))
    return in1, in2, out



# tfkd_requantize_fast (tfkd_kernels.h) needs every accumulator within +-(2**30 - 2).
FAST_REQUANTIZE_LIMIT = (1 << 30) - 2
# (input + input_offset) of an int8 input with an int8 zero point lies in [-255, 255].
_MAX_OFFSET_INPUT = 255


def fits_fast_requantize(filter_values, channel_axis, bias, shifts, filter_offset=0):
    """True when every output channel may use ``tfkd_requantize_fast``: a right shift of at least one
    and an accumulator bounded, whatever the int8 input, by ``FAST_REQUANTIZE_LIMIT``.

    ``filter_values`` holds the int8 weights with output channels along ``channel_axis``;
    ``bias`` is the int32 bias or None; ``filter_offset`` is added to every weight (FULLY_CONNECTED).
    """
    if max(int(s) for s in shifts) > -1:
        return False
    weights = np.moveaxis(np.asarray(filter_values, dtype=np.int64) + int(filter_offset), channel_axis, 0)
    bound = np.abs(weights.reshape(weights.shape[0], -1)).sum(axis=1) * _MAX_OFFSET_INPUT
    if bias is not None:
        bound = bound + np.abs(np.asarray(bias, dtype=np.int64).reshape(-1))
    return bool(bound.max() <= FAST_REQUANTIZE_LIMIT)
