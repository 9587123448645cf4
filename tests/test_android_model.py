"""The Android artifact: the float-I/O model runs on LiteRT with float input and matches the int8 model."""

import numpy as np
import pytest
import tf_keras

import tfkd
from tfkd.export.model_info import parse
from tfkd.model import quantize


@pytest.fixture(scope="module")
def student(digits, digits_teacher):
    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(0)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=digits_teacher)
    distiller.compile(tf_keras.optimizers.Adam(1e-2),
                      tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    distiller.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return distiller.student


def _litert_predictions(tflite_bytes, x):
    """Top-1 classes from LiteRT's interpreter, one sample at a time as an app would run it."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for sample in x:
        if input_details["dtype"] == np.int8:
            scale, zero_point = input_details["quantization"]
            sample = quantize(sample, scale, zero_point)
        interpreter.set_tensor(input_details["index"], sample[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index)[0])
    return np.array(outputs)


def test_float_io_model_matches_int8_model(digits, student):
    (x, _), (x_test, y_test), _ = digits
    float_io = tfkd.export.to_tflite(student, x, io="float")
    int8 = tfkd.export.to_tflite(student, x, io="int8")
    info = parse(float_io)
    # Android feeds float32 and reads float32; every operator inside is still int8.
    assert info.inputs[0].dtype == "float32" and info.outputs[0].dtype == "float32"
    assert not info.float_operators()

    float_outputs = _litert_predictions(float_io, x_test.astype(np.float32))
    int8_outputs = _litert_predictions(int8, x_test)
    float_top1 = np.argmax(float_outputs, axis=-1)
    int8_top1 = np.argmax(int8_outputs, axis=-1)
    float_accuracy = np.mean(float_top1 == y_test)
    int8_accuracy = np.mean(int8_top1 == y_test)
    assert float_accuracy > 0.8, f"float-I/O accuracy {float_accuracy:.3f}: the student did not train"
    assert abs(float_accuracy - int8_accuracy) <= 0.01
    assert np.mean(float_top1 == int8_top1) >= 0.99
