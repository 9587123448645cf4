"""Full-integer TFLite conversion."""

import numpy as np
import tensorflow as tf

DEFAULT_REPRESENTATIVE_SAMPLES = 200


def _representative_batches(representative_data, num_samples):
    x = representative_data[0] if isinstance(representative_data, tuple) else representative_data
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError("representative_data is empty; expected at least one input sample")
    x = x[:num_samples]

    def batches():
        for sample in x:
            yield [sample[None]]

    return batches


def to_tflite(model, representative_data, io="int8", num_samples=DEFAULT_REPRESENTATIVE_SAMPLES):
    """Converts ``model`` to a full-integer TFLite flatbuffer and returns its bytes.

    ``io="int8"`` gives int8 input and output (for microcontrollers); ``io="float"``
    keeps float input and output around the int8 graph (for Android).
    """
    if io not in ("int8", "float"):
        raise ValueError(f"io={io!r} is invalid; expected 'int8' or 'float'")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative_batches(representative_data, num_samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()
