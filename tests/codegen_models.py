"""Models and inputs shared by the code generation tests (tests/test_codegen*.py)."""

import numpy as np
import tf_keras

import tfkd
from tfkd.codegen import read_graph

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
    graph = read_graph(tflite_bytes)
    tensor = graph.tensors[graph.input]
    q = np.round(np.asarray(x, np.float32) / tensor.scale) + tensor.zero_point
    return np.clip(q, -128, 127).astype(np.int8).reshape(len(x), -1)


def random_int8_inputs(tflite_bytes, count, seed=SEED):
    graph = read_graph(tflite_bytes)
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, graph.tensors[graph.input].size)).astype(np.int8)
