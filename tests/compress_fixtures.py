"""Shared models for the tfkd.compress tests: one briefly trained teacher and student on digits."""

import numpy as np
import pytest
import tf_keras

import tfkd
from tfkd.model import quantize

LOSS = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="module")
def digits_slice():
    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    # A slice keeps every fine-tuning step to a few seconds on a shared 2-core machine.
    return (x[:512], y[:512]), (x_test[:200], y_test[:200])


@pytest.fixture(scope="module")
def teacher_and_student(digits_slice):
    (x, y), _ = digits_slice
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=8)
    teacher.compile("adam", LOSS)
    teacher.fit(x, y, epochs=3, batch_size=32, verbose=0)
    student = tfkd.models.cnn_student((8, 8, 1), 10)
    student.compile("adam", LOSS)
    student.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return teacher, student


def prunable_kernels(model):
    """The Conv2D and Dense kernels of a plain (stripped) model, by layer name."""
    return {
        layer.name: layer.kernel.numpy()
        for layer in model.layers
        if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense))
    }


def qat_kernels(model):
    """The float kernels inside a QAT model's wrappers, by inner layer name."""
    return {
        layer.layer.name: weight.numpy()
        for layer in model.layers
        if hasattr(layer, "_weight_vars")
        for weight, _, _ in layer._weight_vars
        if weight.name.rsplit("/", 1)[-1].startswith("kernel")
    }


def run_int8(tflite_bytes, x):
    """Runs the int8 model on LiteRT; returns int8 outputs and the interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    scale, zero = inp["quantization"]
    outputs = []
    for sample in x:
        interpreter.set_tensor(inp["index"], quantize(sample[None], scale, zero))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"])[0])
    return np.array(outputs), interpreter


def int8_weights(interpreter):
    """The int8 weight tensors (rank 2 or 4 constants), in the interpreter's tensor order."""
    io = {d["index"] for d in interpreter.get_input_details() + interpreter.get_output_details()}
    found = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int8 or len(detail["shape"]) not in (2, 4) or detail["index"] in io:
            continue
        try:
            found.append(interpreter.get_tensor(detail["index"]))
        except ValueError:  # activations have no data outside invoke
            continue
    return found


def assert_round_trip(model, path, x):
    model.save(path)
    loaded = tfkd.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
