"""Checking a TFLite model on the runtimes it will meet: LiteRT and TFLite Micro.

Every sample runs, one at a time (TFLite Micro is batch 1), through

- LiteRT with its reference kernels and no delegate (``BUILTIN_REF``): the
  plain-C++ arithmetic TFLite Micro's kernels also follow;
- LiteRT with default settings (the XNNPACK delegate), as an Android app runs it;
- TFLite Micro (the ``tflite-micro`` package): the real MCU kernels, ground truth.

Outputs are compared in int8 steps (LSB): LiteRT's reference kernels and TFLite
Micro should differ by at most 1 LSB (rounding) and never in the top class.
"""

import numpy as np

from tfkd.export.arena import arena_with_margin, measure_arena
from tfkd.model import LiteRTRunner, ModelError, TflmRunner, quantize, read_model


def _check_inputs(info, x, y):
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise ValueError(
            f"model has {len(info.inputs)} inputs and {len(info.outputs)} outputs; verify expects one of each"
        )
    x = np.asarray(x, dtype=np.float32)
    expected = info.inputs[0].shape[1:]
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"x is empty (shape {x.shape}); expected at least one sample")
    if tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(f"x has shape {x.shape}; the model expects (samples, {', '.join(map(str, expected))})")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"y has {len(y)} labels for {len(x)} samples in x; expected one label per sample")
    return x, y


def _accuracy(predictions, y):
    return None if y is None else float(np.mean(predictions == y))


def verify(tflite_bytes, x, y=None, reference=None, arena_size=None):
    """Runs ``x`` through LiteRT and TFLite Micro and compares them; returns a dict.

    ``tflite_bytes``: an int8-I/O or float-I/O full-integer model (float inputs are
    quantized with the input scale and zero point; outputs are dequantized).
    ``y``: integer labels, for accuracies. ``reference``: the float Keras model, for
    ``float_agreement``. ``arena_size``: TFLite Micro arena; by default the measured
    arena plus the stated margin (what the generated firmware uses).

    Keys: ``samples``, ``litert_accuracy`` (reference kernels), ``litert_default_accuracy``
    (XNNPACK), ``tflm_accuracy``, ``float_accuracy`` (accuracies are ``None`` without
    ``y``); ``litert_tflm_max_lsb`` and ``litert_tflm_lsb_mismatch_fraction`` (fraction
    of samples with any output differing), ``litert_tflm_top1_agreement``, the same
    three for ``litert_default_tflm_*``; ``max_abs_diff_dequantized`` (largest
    dequantized LiteRT-reference vs TFLite Micro difference); ``float_agreement`` and
    ``float_max_abs_diff`` (TFLite Micro vs ``reference``, ``None`` without it);
    ``tflm_arena_size`` (the arena TFLite Micro ran with); ``input_dtype``; ``output_scale`` and ``output_zero_point``.
    """
    info = read_model(tflite_bytes)
    x, y = _check_inputs(info, x, y)
    tflite_bytes = bytes(tflite_bytes)
    input_tensor, output_tensor = info.inputs[0], info.outputs[0]
    output_quantization = info.int8_quantization(output_tensor)
    if output_quantization is None:
        raise ModelError(
            f"output tensor {output_tensor.name!r} ({output_tensor.dtype}) has no int8 quantization; "
            "expected a full-integer model from tfkd.export.to_tflite"
        )
    int8_input = input_tensor.dtype == "int8"
    if int8_input:
        samples = quantize(x, *input_tensor.quantization)
    elif input_tensor.dtype == "float32":
        samples = x
    else:
        raise ModelError(f"model input is {input_tensor.dtype}; expected int8 or float32")
    # LiteRT first: it verifies the flatbuffer and prepares every kernel before TFLite Micro, which trusts the file.
    runtimes = {
        "litert": LiteRTRunner(tflite_bytes, reference_kernels=True),
        "litert_default": LiteRTRunner(tflite_bytes, reference_kernels=False),
    }
    arena_size = arena_size or arena_with_margin(measure_arena(tflite_bytes))
    runtimes["tflm"] = TflmRunner(tflite_bytes, arena_size)
    raw = {name: runner.run(samples) for name, runner in runtimes.items()}

    scale, zero_point = output_quantization
    if output_tensor.dtype == "int8":
        steps = {name: out.astype(np.int32) for name, out in raw.items()}
        dequantized = {name: (s - zero_point) * scale for name, s in steps.items()}
    else:
        # Float outputs are dequantized int8 values; dividing by the scale recovers the steps exactly.
        dequantized = {name: out.astype(np.float64) for name, out in raw.items()}
        steps = {name: quantize(d, scale, zero_point).astype(np.int32) for name, d in dequantized.items()}
    top1 = {name: np.argmax(d, axis=-1) for name, d in dequantized.items()}

    result = {
        "samples": int(len(x)),
        "input_dtype": input_tensor.dtype,
        "tflm_arena_size": int(arena_size),
        "output_scale": float(scale),
        "output_zero_point": int(zero_point),
        "litert_accuracy": _accuracy(top1["litert"], y),
        "litert_default_accuracy": _accuracy(top1["litert_default"], y),
        "tflm_accuracy": _accuracy(top1["tflm"], y),
    }
    for name in ("litert", "litert_default"):
        lsb = np.abs(steps[name] - steps["tflm"]).reshape(len(x), -1).max(axis=1)
        result[f"{name}_tflm_max_lsb"] = int(lsb.max())
        result[f"{name}_tflm_lsb_mismatch_fraction"] = float(np.mean(lsb > 0))
        result[f"{name}_tflm_top1_agreement"] = float(np.mean(top1[name] == top1["tflm"]))
    result["max_abs_diff_dequantized"] = float(np.max(np.abs(dequantized["litert"] - dequantized["tflm"])))
    result["float_accuracy"] = None
    result["float_agreement"] = None
    result["float_max_abs_diff"] = None
    if reference is not None:
        expected = np.asarray(reference.predict(x, batch_size=256, verbose=0), dtype=np.float64)
        expected = expected.reshape(dequantized["tflm"].shape)
        result["float_accuracy"] = _accuracy(np.argmax(expected, axis=-1), y)
        result["float_agreement"] = float(np.mean(np.argmax(expected, axis=-1) == top1["tflm"]))
        result["float_max_abs_diff"] = float(np.max(np.abs(expected - dequantized["tflm"])))
    return result
