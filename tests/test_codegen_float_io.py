"""Float-I/O models in tfkd codegen: the input QUANTIZE and output DEQUANTIZE as ``<name>_invoke_float``."""

import os
import shutil

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from codegen_models import SEED
from tfkd.codegen import HostRunner, compile_model, cortex_m4, generate, measure
from tfkd.model import TflmRunner, read_model

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")


@pytest.fixture(scope="module")
def float_io_model():
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.Dense(5)(layers.Flatten()(x))
    model = tf_keras.Model(inputs, layers.Softmax()(x))
    representative = np.random.default_rng(SEED).uniform(size=(32, 8, 8, 1)).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="float")


def _float_inputs(tflite_bytes):
    """In-range values, values far beyond the int8 range, and exact halves of the input scale (where
    QUANTIZE's round-half-away-from-zero decides)."""
    rng = np.random.default_rng(SEED)
    quantize_op = read_model(tflite_bytes).operators[0]
    scale = read_model(tflite_bytes).tensors[quantize_op.outputs[0]].scale
    halves = (np.arange(64, dtype=np.float32) - 20 + 0.5) * scale
    return np.concatenate([
        rng.uniform(-0.5, 1.5, size=(48, 64)).astype(np.float32),
        rng.normal(scale=1e6, size=(4, 64)).astype(np.float32),
        halves[None], -halves[None],
    ])


def test_float_io_model_is_bit_exact_with_tflite_micro(float_io_model):
    runner = HostRunner(float_io_model)
    assert runner.summary["float_input"] and runner.summary["float_output"]
    inputs = _float_inputs(float_io_model)
    ours = runner.run(inputs)
    theirs = TflmRunner(float_io_model).run(inputs.reshape(-1, 8, 8, 1)).reshape(len(inputs), -1)
    assert ours.dtype == theirs.dtype == np.float32
    # Bit for bit, not approximately: compare the float32 bit patterns.
    assert np.array_equal(ours.view(np.int32), theirs.view(np.int32))


def test_float_ends_wrap_the_int8_invoke(float_io_model, tmp_path):
    summary = generate(float_io_model, tmp_path, name="net")
    header = (tmp_path / "net.h").read_text()
    assert "int net_invoke(const int8_t *input, int8_t *output);" in header
    assert "int net_invoke_float(const float *input, float *output);" in header
    assert "QUANTIZE" not in summary["ops"] and "DEQUANTIZE" not in summary["ops"]
    assert summary["ops"][0] == "CONV_2D" and summary["ops"][-1] == "SOFTMAX"
    # The int8 core is what an int8 model of the same network would give: its ends are the int8 tensors.
    model = read_model(float_io_model)
    assert summary["input_size"] == 64 and summary["output_size"] == 5
    assert model.inputs[0].dtype == model.outputs[0].dtype == "float32"


@pytest.mark.skipif(cortex_m4.missing_tools(), reason="no Arm toolchain")
def test_float_io_model_builds_warning_free_and_runs_bit_exact_on_cortex_m4(float_io_model):
    # measure() compiles every generated source (the float ends included) with -Wall -Wextra -Werror for
    # the Cortex-M4 and compares the int8 core with TFLite Micro across the model's float ends.
    result = measure(float_io_model, samples=np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape(4, 64))
    assert result["matches_tflm"]
    assert result["macs"] == 36 * 4 * 9 + 144 * 5


def _rewritten(tflite_bytes, change):
    import flatbuffers

    from tfkd.model.schema import schema

    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    change(model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_float_ends_that_are_not_a_quantize_pair_are_refused(float_io_model, tmp_path):
    def int16_after_quantize(graph):
        graph.tensors[graph.operators[0].outputs[0]].type = 7  # INT16

    with pytest.raises(ValueError, match=r"QUANTIZE \(operator #0\) writes INT16; .*per-tensor int8"):
        generate(_rewritten(float_io_model, int16_after_quantize), tmp_path / "a")

    def float_output_of_softmax(graph):
        # Drop the DEQUANTIZE: the graph output is now SOFTMAX's tensor, retyped float32.
        dequantize = graph.operators.pop()
        graph.outputs = [dequantize.inputs[0]]
        graph.tensors[dequantize.inputs[0]].type = 0  # FLOAT32

    with pytest.raises(ValueError, match=r"FLOAT32 and written by SOFTMAX \(operator #4\)"):
        generate(_rewritten(float_io_model, float_output_of_softmax), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_int8_model_has_no_float_ends(float_io_model):
    _, summary = compile_model(float_io_model)
    assert summary["float_input"]
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((5,))
    int8_model = tfkd.export.to_tflite(tf_keras.Model(inputs, layers.Dense(3)(inputs)),
                                       np.random.default_rng(SEED).uniform(size=(16, 5)), io="int8")
    sources, summary = compile_model(int8_model)
    assert not summary["float_input"] and not summary["float_output"]
    assert "model_float_io.c" not in sources and "invoke_float" not in sources["model.h"]
