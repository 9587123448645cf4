"""Row streaming (tfkd/codegen/streaming.py, kernels/tfkd_stream.c): chains of windowed layers run one output
row at a time give TFLite Micro's outputs byte for byte, in a smaller arena."""

import os
import shutil

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from codegen_models import SEED, random_int8_inputs
from tfkd import cli
from tfkd.codegen import compile_model, cortex_m4, generate, host, measure, streaming
from tfkd.codegen.checks import Step
from tfkd.model import TflmRunner

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")


def _convert(model):
    tf_keras.utils.set_random_seed(SEED)
    representative = np.random.default_rng(SEED).uniform(-1, 1, (64, *model.input_shape[1:])).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="int8")


def _dilated_conv(dilation):
    """CONV_2D carrying its own dilation: tf.raw_ops.Conv2D converts to one operator (Keras' dilated Conv2D
    becomes SPACE_TO_BATCH_ND around it)."""
    import tensorflow as tf

    kernel = tf.constant(np.random.default_rng(SEED).normal(0, 0.3, size=(3, 3, 8, 8)).astype(np.float32))
    return layers.Lambda(lambda t: tf.raw_ops.Conv2D(input=t, filter=kernel, strides=[1, 1, 1, 1], padding="SAME",
                                                     dilations=[1, dilation, dilation, 1]))


def _residual(tail=layers.Add, stride=1, dilation=1, padding="same"):
    """A stem convolution, then a block whose two convolutions feed ``tail`` with the stem's output."""
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((13, 11, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    # Without a tail to fuse, streaming pays where the tensor between the two is the largest: widen it.
    y = layers.Conv2D(8 if padding == "same" else 24, 3, padding="same", activation="relu")(x)
    if dilation > 1:
        y = _dilated_conv(dilation)(y)
    else:
        y = layers.Conv2D(8, 3, padding=padding, strides=stride)(y)
    if stride == 1 and padding == "same":
        y = tail()([x, y])
    x = layers.Conv2D(4, 3, strides=2)(layers.ReLU()(y))
    return _convert(tf_keras.Model(inputs, layers.Dense(5)(layers.Flatten()(x))))


def _projection():
    """A block whose element-wise ADD takes a 1x1 projection of the block input, computed before the block."""
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((12, 10, 4))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    shortcut = layers.Conv2D(12, 1)(x)
    y = layers.Conv2D(12, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(12, 3, padding="same")(y)
    x = layers.Conv2D(4, 3, strides=2)(layers.ReLU()(layers.Add()([shortcut, y])))
    return _convert(tf_keras.Model(inputs, layers.Dense(5)(layers.Flatten()(x))))


def _separable():
    """Depthwise layers in chains (stride 1 with a 5x3 window, stride 2), as in MobileNet and DS-CNN."""
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((16, 10, 2))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D((5, 3), padding="same", activation="relu")(x)
    x = layers.Conv2D(4, 1, activation="relu")(x)
    x = layers.Conv2D(24, 1, activation="relu")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(6, 1)(x)
    return _convert(tf_keras.Model(inputs, layers.Dense(3)(layers.Flatten()(x))))


MODELS = {
    "residual_add": lambda: _residual(),
    "residual_sub": lambda: _residual(tail=layers.Subtract),
    "residual_mul": lambda: _residual(tail=layers.Multiply),
    "stride2_second": lambda: _residual(stride=2),
    "dilated_second": lambda: _residual(dilation=2),
    "valid_second": lambda: _residual(padding="valid"),
    "residual_projection": _projection,
}


def _host_outputs(tflite_bytes, inputs, directory, stream):
    summary = generate(tflite_bytes, directory, stream=stream)
    outputs = host.run_host(host.compile_host(directory), inputs, summary["output_size"])
    return summary, outputs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_streamed_chains_are_bit_exact_and_need_less_arena(name, tmp_path):
    tflite_bytes = MODELS[name]()
    inputs = random_int8_inputs(tflite_bytes, 24)
    summary, ours = _host_outputs(tflite_bytes, inputs, tmp_path / "stream", "auto")
    assert summary["streamed"], "no chain was streamed"
    np.testing.assert_array_equal(ours, TflmRunner(tflite_bytes).run(inputs))
    whole = compile_model(tflite_bytes, stream="off")[1]
    assert not whole["streamed"]
    assert summary["arena_bytes"] < whole["arena_bytes"]
    if name.startswith("residual"):
        # The block's two convolutions and the element-wise operator form one stream.
        assert [len(chain) for chain in summary["streamed"]] == [3]


def test_depthwise_chains_stream_only_when_asked(tmp_path):
    tflite_bytes = _separable()
    inputs = random_int8_inputs(tflite_bytes, 24)
    assert not compile_model(tflite_bytes)[1]["streamed"]  # "auto" leaves depthwise chains whole
    summary, ours = _host_outputs(tflite_bytes, inputs, tmp_path, "all")
    assert summary["streamed"] == [[0, 1], [3, 4]]  # the stride-1 5x3 and the stride-2 depthwise layers
    np.testing.assert_array_equal(ours, TflmRunner(tflite_bytes).run(inputs))
    assert summary["arena_bytes"] < compile_model(tflite_bytes, stream="off")[1]["arena_bytes"]


@pytest.mark.skipif(bool(cortex_m4.missing_tools()), reason="no Arm toolchain or QEMU")
def test_streams_are_bit_exact_on_cortex_m4():
    """The Cortex-M4 kernels' DSP paths, called on bands of rows (depthwise included)."""
    for tflite_bytes in (MODELS["residual_add"](), _separable()):
        result = measure(tflite_bytes, random_int8_inputs(tflite_bytes, 4), stream="all")
        assert result["matches_tflm"]


def _layer(height, filter_height, stride, pad, dilation=1, width=4, depth=2):
    out_height = (height + 2 * pad - dilation * (filter_height - 1) - 1) // stride + 1
    params = dict(input_height=height, input_width=width, input_depth=depth, output_height=out_height,
                  output_width=width, output_depth=depth, filter_height=filter_height, stride_height=stride,
                  pad_height=pad, dilation_height=dilation)
    return Step(None, "tfkd_conv2d", "tfkd_conv_params", params, [("tensor", 0)], 1)


@pytest.mark.parametrize("second, capacity", [
    ((3, 1, 1), 3), ((5, 1, 2), 5), ((3, 2, 1), 3), ((3, 1, 2, 2), 5), ((1, 1, 0), 1),
])
def test_windows_hold_the_rows_the_next_window_reads(second, capacity):
    layers_ = [_layer(10, 3, 1, 1), _layer(10, *second)]
    calls, capacities = streaming.schedule(layers_)
    assert capacities[0] == capacity
    # Every row of every layer is computed once, in order, and before the rows that read it.
    for j, layer in enumerate(layers_):
        assert [row for k, row, _, _ in calls if k == j] == list(range(layer.params["output_height"]))
    done = 0
    for j, row, lo, hi in calls:
        if j == 0:
            done = row + 1
        else:
            assert hi <= done


def test_stream_mode_is_checked(tmp_path):
    tflite_bytes = MODELS["residual_add"]()
    with pytest.raises(ValueError, match="stream='sometimes'"):
        compile_model(tflite_bytes, stream="sometimes")
    path = tmp_path / "model.tflite"
    path.write_bytes(tflite_bytes)
    assert cli.main(["tfkd", "codegen", str(path), "--out", str(tmp_path / "c"), "--stream", "off", "--nomeasure"]) == 0
    assert "tfkd_stream" not in (tmp_path / "c" / "model.c").read_text()
