"""Full-integer TFLite conversion.

Every operator of the converted model computes in int8 (``TFLITE_BUILTINS_INT8``
only): microcontroller runtimes and NPUs have no float kernels to fall back on.
Activation ranges come from representative samples drawn from the training data.
"""

import re

import numpy as np

from tfkd.export.model_info import parse
from tfkd.model import dilation

DEFAULT_REPRESENTATIVE_SAMPLES = 200
IO_TYPES = ("int8", "float")

# Names inside the text form of a converter error's location protobuf.
_LOCATION_NAME = re.compile(r'name: "([^"]+)"')


def _dataset_samples(dataset, input_rank, num_samples):
    """The first ``num_samples`` inputs of a dataset of ``x`` or ``(x, y)``, batched or not."""
    samples = []
    for element in dataset.as_numpy_iterator():
        x = np.asarray(element[0] if isinstance(element, tuple) else element, dtype=np.float32)
        samples.extend(x if x.ndim == input_rank else [x])
        if len(samples) >= num_samples:
            break
    return samples[:num_samples]


def representative_samples(representative_data, input_shape, num_samples, seed=0):
    """Up to ``num_samples`` float32 inputs shaped like ``input_shape`` (batch axis first).

    Arrays are sampled at random without replacement (with ``seed``) so that data
    sorted by class still covers every class; datasets are read in order.
    """
    import tensorflow as tf

    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r} is invalid; expected a positive integer")
    input_rank = len(input_shape)
    if isinstance(representative_data, tf.data.Dataset):
        samples = _dataset_samples(representative_data, input_rank, num_samples)
        if not samples:
            raise ValueError("representative_data is an empty dataset; expected at least one input sample")
        x = np.stack(samples)
    else:
        x = representative_data[0] if isinstance(representative_data, tuple) else representative_data
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            raise ValueError(f"representative_data is empty (shape {x.shape}); expected at least one input sample")
        if len(x) > num_samples:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), num_samples, replace=False))]
    if tuple(x.shape[1:]) != tuple(input_shape[1:]):
        raise ValueError(
            f"representative inputs have shape {x.shape}; expected (samples, {', '.join(map(str, input_shape[1:]))})"
        )
    return x


def _layer_names(model):
    names = []
    for layer in model.layers:
        names.append(layer.name)
        if hasattr(layer, "layers"):
            names.extend(_layer_names(layer))
    return names


def _layer_of(path, model):
    """The Keras layer named in a TF op path such as ``student/conv_1/Conv2D``."""
    names = set(_layer_names(model))
    for part in re.split(r"[/;]", path):
        if part in names:
            return part
    return None


def _describe(op, layer):
    return f"op {op} (Keras layer {layer!r})" if layer else f"op {op} (Keras layer unknown)"


def _conversion_error(error, model):
    """A ValueError naming the ops the converter refused and the Keras layers they came from.

    ``ConverterError.errors`` carries, per refused op, its name and its MLIR location,
    whose call-site names are TF op paths such as ``model/my_layer/Erf@__inference...``.
    """
    found = []
    for data in getattr(error, "errors", None) or []:
        op = data.operator.name if data.HasField("operator") else None
        if not op:
            continue
        paths = _LOCATION_NAME.findall(str(data.location))
        layer = next((layer for layer in (_layer_of(p.split("@")[0], model) for p in paths) if layer), None)
        found.append(_describe(op, layer))
    if not found:
        message = str(error).strip()
        first = message.splitlines()[0] if message else type(error).__name__
        return ValueError(f"TFLite conversion of model {model.name!r} failed: {first}")
    return ValueError(
        f"cannot convert {', '.join(dict.fromkeys(found))} to int8 TFLite: no TFLite builtin int8 kernel exists "
        "for it; replace the layer with one that TFLite Micro supports (Conv2D, DepthwiseConv2D, Dense, ReLU, pooling)"
    )


def to_tflite(model, representative_data, io="int8", num_samples=DEFAULT_REPRESENTATIVE_SAMPLES, seed=0,
              per_channel=True, fold_dilations=True):
    """Converts ``model`` to a full-integer TFLite flatbuffer and returns its bytes.

    ``representative_data``: an array of inputs, an ``(x, y)`` tuple, or a
    ``tf.data.Dataset`` of ``x`` or ``(x, y)`` (batched or not); ``num_samples`` of
    them calibrate the activation ranges. ``io="int8"`` gives int8 input and output
    (for microcontrollers); ``io="float"`` keeps float input and output around the
    int8 graph (for Android). ``per_channel=False`` quantises every weight tensor with
    one scale (per-tensor), for runtimes or kernels that only take that. ``fold_dilations``: the
    converter writes a dilated ``Conv2D``/``DepthwiseConv2D`` as SPACE_TO_BATCH_ND, an undilated convolution
    and BATCH_TO_SPACE_ND, which TFLite Micro computes wrongly; by default each becomes the one dilated
    operator it stands for (:mod:`tfkd.model.dilation`), with the same outputs on LiteRT. Raises
    ValueError naming the TFLite op and the Keras layer when an operator cannot run in int8.
    """
    import tensorflow as tf

    if io not in IO_TYPES:
        raise ValueError(f"io={io!r} is invalid; expected 'int8' or 'float'")
    for flag, value in (("per_channel", per_channel), ("fold_dilations", fold_dilations)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag}={value!r} is invalid; expected True or False")
    input_shape = tuple(model.input_shape)
    x = representative_samples(representative_data, input_shape, num_samples, seed)

    def batches():
        for sample in x:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = batches
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # The converter's only switch for per-tensor weights (TFLite's own quantization tests use it).
    converter._experimental_disable_per_channel = not per_channel
    if io == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        tflite_bytes = converter.convert()
    except Exception as e:  # ConverterError and the MLIR errors it wraps share no narrower base
        raise _conversion_error(e, model) from e
    # An op without an int8 kernel does not stop the converter: it wraps the op in
    # DEQUANTIZE/QUANTIZE and leaves it in float, which no MCU kernel would run.
    info = parse(tflite_bytes)
    float_ops = info.float_operators()
    if float_ops:
        found = [_describe(op.name, _layer_of(info.tensors[op.outputs[0]].name, model)) for op in float_ops]
        raise ValueError(
            f"cannot make {', '.join(found)} int8: TFLite has no int8 kernel for it and would run it in float32; "
            "replace the layer with one that TFLite Micro supports (Conv2D, DepthwiseConv2D, Dense, ReLU, pooling)"
        )
    return dilation.fold_dilated_convolutions(tflite_bytes) if fold_dilations else tflite_bytes
