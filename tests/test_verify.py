"""tfkd.export.verify and measure_arena: LiteRT and TFLite Micro agree on a small trained CNN."""

import numpy as np
import pytest
import tf_keras

import tfkd
from tfkd.export import arena_with_margin, measure_arena, to_tflite, verify
from tfkd.export.arena import ARENA_MARGIN_BYTES, ARENA_RESOLUTION, _Prober, tflm_interpreter


@pytest.fixture(scope="module")
def trained(digits):
    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(0)
    model = tfkd.models.cnn_student((8, 8, 1), 10)
    model.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model, to_tflite(model, x, io="int8"), to_tflite(model, x, io="float")


@pytest.fixture(scope="module")
def test_split_result(trained, digits):
    model, int8_bytes, _ = trained
    _, (x_test, y_test), _ = digits
    return verify(int8_bytes, x_test, y_test, reference=model)


def test_litert_reference_and_tflm_agree_on_every_test_sample(test_split_result, digits):
    result = test_split_result
    assert result["samples"] == len(digits[1][0])
    assert result["litert_tflm_max_lsb"] <= 1
    assert result["litert_tflm_top1_agreement"] == 1.0
    assert result["tflm_accuracy"] == result["litert_accuracy"]
    assert result["max_abs_diff_dequantized"] <= result["output_scale"] * 1.0001


def test_int8_accuracy_follows_the_float_model(test_split_result):
    result = test_split_result
    assert result["float_accuracy"] > 0.8, "the fixture model should have learned digits"
    assert abs(result["tflm_accuracy"] - result["float_accuracy"]) <= 0.03
    assert result["float_agreement"] >= 0.95
    assert result["litert_default_tflm_top1_agreement"] >= 0.99


def test_random_inputs_stay_within_one_lsb(trained):
    _, int8_bytes, _ = trained
    x = np.random.default_rng(1).random((500, 8, 8, 1), dtype=np.float32)
    result = verify(int8_bytes, x)
    assert result["litert_tflm_max_lsb"] <= 1
    assert result["litert_tflm_lsb_mismatch_fraction"] < 0.1
    assert result["litert_tflm_top1_agreement"] == 1.0
    assert result["tflm_accuracy"] is None and result["float_agreement"] is None


def test_float_io_model_gives_the_int8_model_answers(trained, digits, test_split_result):
    model, _, float_bytes = trained
    _, (x_test, y_test), _ = digits
    result = verify(float_bytes, x_test, y_test, reference=model)
    assert result["input_dtype"] == "float32"
    assert result["litert_tflm_max_lsb"] <= 1
    assert result["litert_tflm_top1_agreement"] == 1.0
    assert abs(result["tflm_accuracy"] - test_split_result["tflm_accuracy"]) <= 0.01


def test_measured_arena_is_the_smallest_that_works(trained, tmp_path):
    _, int8_bytes, _ = trained
    measured = measure_arena(int8_bytes)
    assert measured % ARENA_RESOLUTION == 0
    interpreter = tflm_interpreter(int8_bytes, measured)
    interpreter.set_input(np.zeros((1, 8, 8, 1), np.int8), 0)
    interpreter.invoke()
    # One step smaller must fail; checked in a child process, as the failure leaves
    # tflite-micro's heap unusable for later interpreters.
    path = tmp_path / "model.tflite"
    path.write_bytes(int8_bytes)
    prober = _Prober(str(path))
    try:
        assert prober.fits(measured)
        assert not prober.fits(measured - ARENA_RESOLUTION)
    finally:
        prober.close()
    assert arena_with_margin(measured) >= measured * 1.1 + ARENA_MARGIN_BYTES


def test_bad_inputs_are_refused(trained):
    _, int8_bytes, _ = trained
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        verify(b"not a model at all", np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"expects \(samples, 8, 8, 1\)"):
        verify(int8_bytes, np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="3 labels for 2 samples"):
        verify(int8_bytes, np.zeros((2, 8, 8, 1), np.float32), y=[0, 1, 2])
    with pytest.raises(ValueError, match="x is empty"):
        verify(int8_bytes, np.zeros((0, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="arena_size=100 is too small"):
        verify(int8_bytes, np.zeros((1, 8, 8, 1), np.float32), arena_size=100)
