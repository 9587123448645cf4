"""Reference models: shapes, sizes, and that each converts to full int8 and runs on TFLite Micro."""

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

import tfkd

BUILDERS = [
    (tfkd.models.cnn_teacher, (8, 8, 1)),
    (tfkd.models.cnn_student, (8, 8, 1)),
    (tfkd.models.cnn_student, (28, 28, 1)),
    (tfkd.models.ds_cnn_student, (8, 8, 1)),
    (tfkd.models.ds_cnn_student, (28, 28, 1)),
]


@pytest.mark.parametrize("builder, shape", BUILDERS)
def test_image_models_run_as_full_int8_on_tflite_micro(builder, shape):
    model = builder(shape, num_classes=10)
    assert model.output_shape == (None, 10)
    x = np.random.default_rng(0).random((16, *shape), dtype=np.float32)
    flatbuffer = tfkd.export.to_tflite(model, x)
    interpreter = runtime.Interpreter.from_bytes(flatbuffer, arena_size=512 * 1024)
    assert interpreter.get_input_details(0)["dtype"] == np.int8
    interpreter.set_input(np.zeros((1, *shape), dtype=np.int8), 0)
    interpreter.invoke()
    assert interpreter.get_output(0).shape == (1, 10)


def test_mlp_pair_runs_on_tflite_micro():
    for model in (tfkd.models.mlp_teacher(4, 3), tfkd.models.mlp_student(4, 3)):
        flatbuffer = tfkd.export.to_tflite(model, np.random.default_rng(0).random((16, 4), dtype=np.float32))
        interpreter = runtime.Interpreter.from_bytes(flatbuffer, arena_size=64 * 1024)
        interpreter.set_input(np.zeros((1, 4), dtype=np.int8), 0)
        interpreter.invoke()
        assert interpreter.get_output(0).shape == (1, 3)


def test_teacher_is_much_larger_than_students():
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10).count_params()
    assert teacher > 100 * tfkd.models.cnn_student((8, 8, 1), 10).count_params()
    assert teacher > 100 * tfkd.models.ds_cnn_student((8, 8, 1), 10).count_params()


def test_feature_layers_are_named_by_depth():
    student = tfkd.models.cnn_student((8, 8, 1), 10)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10)
    assert [layer.name for layer in student.layers if layer.name.startswith("features_")] == ["features_1", "features_2"]
    assert teacher.get_layer("features_4").output_shape == (None, 4, 4, 128)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tfkd.models.cnn_student((8, 8), 10), r"input_shape=\(8, 8\) is invalid"),
        (lambda: tfkd.models.cnn_student((8, 8, 1), 1), r"num_classes=1 is invalid"),
        (lambda: tfkd.models.mlp_student(0, 3), r"input_shape=\(0,\) is invalid"),
    ],
)
def test_bad_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
