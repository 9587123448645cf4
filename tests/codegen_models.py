"""Models and inputs shared by the code generation tests (tests/test_codegen*.py)."""

import numpy as np
import tf_keras

import tfkd
from tfkd.model import quantize, read_model

SEED = 0


def trained_digits_tflite(builder, epochs=1):
    """``builder`` (a tfkd.models reference student) trained briefly on digits, as int8 TFLite bytes,
    with the int8-quantised digits test split."""
    (x_train, y_train), (x_test, _), _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(SEED)
    model = builder(x_train.shape[1:], 10)
    model.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    tflite_bytes = tfkd.export.to_tflite(model, x_train[:200], io="int8")
    return tflite_bytes, quantize_inputs(tflite_bytes, x_test)


def quantize_inputs(tflite_bytes, x):
    """Float inputs ``x`` as the model's int8 inputs (its input scale and zero point), one row each."""
    scale, zero_point = read_model(tflite_bytes).inputs[0].quantization
    return quantize(x, scale, zero_point).reshape(len(x), -1)


def random_int8_inputs(tflite_bytes, count, seed=SEED):
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, read_model(tflite_bytes).inputs[0].elements)).astype(np.int8)
