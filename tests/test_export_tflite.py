"""tfkd.export.to_tflite: full-int8 conversion of the reference students, I/O types, data forms, errors."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tf_keras import layers

import tfkd
from tfkd.export import to_tflite, verify
from tfkd.export.model_info import parse
from tfkd.model import LiteRTRunner, TflmRunner, read_model


def _trained(model, x, y, epochs=2):
    tf_keras.utils.set_random_seed(0)
    model.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    x = rng.random((60, 4), dtype=np.float32)
    return x, (x[:, 0] > 0.5).astype("int64") + (x[:, 1] > 0.5)


@pytest.mark.parametrize("builder", ["cnn_student", "ds_cnn_student"])
def test_image_students_convert_to_int8_and_run_on_litert_and_tflm(builder, digits):
    (x, y), (x_test, y_test), _ = digits
    tf_keras.utils.set_random_seed(0)
    model = _trained(getattr(tfkd.models, builder)((8, 8, 1), 10), x, y, epochs=1)
    tflite_bytes = to_tflite(model, x, num_samples=50)
    info = parse(tflite_bytes)
    assert info.inputs[0].dtype == info.outputs[0].dtype == "int8"
    assert info.float_operators() == []
    assert {t.dtype for t in info.tensors} <= {"int8", "int32"}
    result = verify(tflite_bytes, x_test[:50], y_test[:50], reference=model)
    assert result["litert_tflm_max_lsb"] <= 1
    assert result["litert_tflm_top1_agreement"] == 1.0
    assert result["tflm_accuracy"] == result["litert_accuracy"]


def test_mlp_student_converts_to_int8_and_runs_on_tflm(tabular):
    x, y = tabular
    tf_keras.utils.set_random_seed(0)
    model = _trained(tfkd.models.mlp_student(4, 3), x, y)
    result = verify(to_tflite(model, x), x, y, reference=model)
    assert result["samples"] == 60
    assert result["litert_tflm_max_lsb"] <= 1
    assert result["litert_tflm_top1_agreement"] == 1.0


def test_float_io_keeps_float_boundary_around_int8_graph(tabular):
    x, _ = tabular
    tf_keras.utils.set_random_seed(0)
    info = parse(to_tflite(tfkd.models.mlp_student(4, 3), x, io="float"))
    assert info.inputs[0].dtype == info.outputs[0].dtype == "float32"
    assert info.op_names[0] == "QUANTIZE" and info.op_names[-1] == "DEQUANTIZE"
    assert info.float_operators() == []
    assert info.int8_quantization(info.inputs[0]) is not None


def test_every_form_of_representative_data_calibrates_identically(tabular):
    x, y = tabular
    tf_keras.utils.set_random_seed(0)
    model = tfkd.models.mlp_student(4, 3)
    forms = {
        "array": x,
        "tuple": (x, y),
        "batched (x, y) dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(7),
        "unbatched x dataset": tf.data.Dataset.from_tensor_slices(x),
    }
    converted = {name: to_tflite(model, data, num_samples=len(x)) for name, data in forms.items()}
    assert len(set(converted.values())) == 1, "the same samples must give the same model"


def test_representative_sample_count_is_configurable(tabular):
    x, _ = tabular
    model = tfkd.models.mlp_student(4, 3)
    # One sample of zeros and the real samples calibrate different input ranges.
    one = parse(to_tflite(model, np.zeros((1, 4), np.float32) + 0.25, num_samples=1))
    many = parse(to_tflite(model, x, num_samples=60))
    assert one.inputs[0].quantization != many.inputs[0].quantization
    with pytest.raises(ValueError, match="num_samples=0"):
        to_tflite(model, x, num_samples=0)


@pytest.mark.parametrize(
    "data",
    [np.zeros((0, 4), np.float32), (np.zeros((0, 4), np.float32), np.zeros(0)),
     tf.data.Dataset.from_tensor_slices(np.zeros((0, 4), np.float32))],
    ids=["array", "tuple", "dataset"],
)
def test_empty_representative_data_is_refused(data):
    with pytest.raises(ValueError, match="empty"):
        to_tflite(tfkd.models.mlp_student(4, 3), data)


def test_bad_io_and_shape_are_refused(tabular):
    x, _ = tabular
    model = tfkd.models.mlp_student(4, 3)
    with pytest.raises(ValueError, match="io='uint8'"):
        to_tflite(model, x, io="uint8")
    with pytest.raises(ValueError, match=r"expected \(samples, 4\)"):
        to_tflite(model, np.zeros((5, 3), np.float32))


def _with_layer(layer):
    inputs = tf_keras.Input((4,))
    hidden = layer(layers.Dense(8, name="dense_in")(inputs))
    return tf_keras.Model(inputs, layers.Dense(3, name="dense_out")(hidden))


def test_op_left_in_float_names_tflite_op_and_keras_layer(tabular):
    x, _ = tabular
    model = _with_layer(layers.Lambda(tf.math.sin, name="wave"))
    with pytest.raises(ValueError, match=r"op SIN \(Keras layer 'wave'\)"):
        to_tflite(model, x)


def test_op_without_tflite_builtin_names_tf_op_and_keras_layer(tabular):
    x, _ = tabular
    model = _with_layer(layers.Lambda(tf.math.erf, name="gauss_cdf"))
    with pytest.raises(ValueError, match=r"op tf\.Erf \(Keras layer 'gauss_cdf'\)"):
        to_tflite(model, x)


def test_dilated_convolutions_are_folded_so_tflite_micro_computes_them():
    """The converter's SPACE_TO_BATCH_ND sandwich, which TFLite Micro miscomputes, becomes one dilated operator
    with LiteRT's outputs of the unfolded model."""
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((12, 10, 3))
    x = tf_keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same", activation="relu")(inputs)
    x = tf_keras.layers.DepthwiseConv2D(3, dilation_rate=(2, 3), padding="same")(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Conv2D(4, (3, 2), dilation_rate=(3, 2))(x))
    representative = np.random.default_rng(0).uniform(0, 1, (32, 12, 10, 3)).astype(np.float32)
    folded = tfkd.export.to_tflite(model, representative)
    converted = tfkd.export.to_tflite(model, representative, fold_dilations=False)
    converted_kinds = [op.kind for op in read_model(converted).operators]
    assert converted_kinds.count("SPACE_TO_BATCH_ND") == 3
    assert [op.kind for op in read_model(folded).operators] == [
        kind for kind in converted_kinds if kind not in ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")]
    samples = np.random.default_rng(1).integers(-128, 128, (8, 12, 10, 3)).astype(np.int8)
    expected = LiteRTRunner(converted).run(samples)
    np.testing.assert_array_equal(LiteRTRunner(folded).run(samples), expected)
    np.testing.assert_array_equal(TflmRunner(folded).run(samples), expected)
    assert not np.array_equal(TflmRunner(converted).run(samples), expected)
    with pytest.raises(ValueError, match="fold_dilations='yes'"):
        tfkd.export.to_tflite(model, representative, fold_dilations="yes")
