"""Models and inputs shared by the code generation tests (tests/test_codegen*.py).

The deployed-shaped models (``DEPLOYED_MODELS``, ``deployed_tflite``) and ``random_int8_inputs`` are
defined once, in ``tools/tflm_models.py``, which the TFLite Micro peer benchmark uses too.
"""

import os
import sys

import tf_keras

import tfkd
from tfkd.model import quantize, read_model

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from tflm_models import DEPLOYED_MODELS, SEED, deployed_tflite, random_int8_inputs  # noqa: E402,F401


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
