"""tfkd.model against LiteRT, an independent reader and runtime of the same flatbuffers."""

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from tfkd.model import LiteRTRunner, ModelError, TflmRunner, dequantize, quantize, read_model


@pytest.fixture(scope="module")
def float_io_model():
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((6,))
    model = tf_keras.Model(inputs, layers.Dense(3)(layers.Dense(8, activation="relu")(inputs)))
    representative = np.random.default_rng(0).uniform(-3, 3, size=(32, 6)).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="float")


def test_reader_agrees_with_litert(float_io_model):
    from ai_edge_litert.interpreter import Interpreter

    model = read_model(float_io_model)
    interpreter = Interpreter(model_content=float_io_model)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert len(model.tensors) == len(details)
    for tensor in model.tensors:
        theirs = details[tensor.index]
        assert tensor.name == theirs["name"]
        assert tensor.shape == tuple(theirs["shape"])
        assert np.dtype(theirs["dtype"]).name == tensor.dtype
        np.testing.assert_array_equal(tensor.scales, theirs["quantization_parameters"]["scales"])
    assert model.op_names == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]
    # Dense biases start at zero and the converter drops all-zero biases: weights only.
    assert model.parameter_count == 6 * 8 + 8 * 3


def test_quantize_rounds_like_tflite_quantize_kernel(float_io_model):
    """Inputs exactly half-way between two steps: TFLite's reference QUANTIZE (what TFLite Micro runs) rounds
    away from zero; numpy rounds to even, and LiteRT's optimised kernel multiplies by 1/scale."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model = read_model(float_io_model)
    quantize_op = model.operators[0]
    scale, zero_point = model.tensors[quantize_op.outputs[0]].quantization
    steps = np.arange(-140, 140, dtype=np.float32)[:, None] + np.float32(0.5)
    x = (steps * np.float32(scale)).repeat(6, axis=1)
    interpreter = Interpreter(model_content=float_io_model, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    theirs = []
    for row in x:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], row[None])
        interpreter.invoke()
        theirs.append(interpreter.get_tensor(quantize_op.outputs[0])[0])
    np.testing.assert_array_equal(quantize(x, scale, zero_point), np.stack(theirs))
    assert dequantize(np.int8(zero_point + 4), scale, zero_point) == np.float32(4) * np.float32(scale)


def test_runners_share_one_interface(float_io_model):
    x = np.random.default_rng(1).uniform(-3, 3, size=(5, 6)).astype(np.float32)
    litert = LiteRTRunner(float_io_model).run(x)
    tflm = TflmRunner(float_io_model).run(x)
    assert litert.shape == tflm.shape == (5, 3)
    np.testing.assert_allclose(litert, tflm, atol=float(read_model(float_io_model).tensors[
        read_model(float_io_model).operators[-1].inputs[0]].scale) * 1.01)


@pytest.mark.parametrize("bad, expected", [
    (b"", "not a TFLite flatbuffer"),
    (b"\x00\x00\x00\x00TFL3", "corrupt"),
    (b"\xff\xff\xff\x7fTFL3" + bytes(32), "outside"),
])
def test_corrupt_bytes_raise_model_error(bad, expected):
    with pytest.raises(ModelError, match=expected):
        read_model(bad)


def test_quantize_rejects_a_bad_scale():
    with pytest.raises(ValueError, match="scale=0.0"):
        quantize([1.0], 0.0, 0)
