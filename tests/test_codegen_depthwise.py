"""DEPTHWISE_CONV_2D kernel paths, bit for bit against TFLite Micro: the Cortex-M4 DSP path in QEMU
(interior 3x3 windows with the folded fast requantisation, border pixels, channels past the last group of
four) and the plain C path on the host (depth multiplier > 1, dilated width)."""

import os

import numpy as np
import pytest

from tfkd.codegen import HostRunner, QemuRunner, cortex_m4, lowering
from tfkd.model import TflmRunner

MISSING = cortex_m4.missing_tools()
needs_qemu = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not on PATH")

SAMPLES = 6


def _model(shape, branches, seed=0):
    """One input of ``shape``; each branch (a callable on the input tensor) flattened and concatenated."""
    import tf_keras
    from tf_keras import layers

    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input(shape)
    outputs = [layers.Flatten()(branch(inputs)) for branch in branches]
    return tf_keras.Model(inputs, outputs[0] if len(outputs) == 1 else layers.Concatenate()(outputs))


def _depthwise(kernel=3, strides=1, padding="same", multiplier=1, channels=None, activation="relu", bias_init=None):
    """A branch: optionally a 1x1 convolution to ``channels``, then a DepthwiseConv2D."""
    import tf_keras
    from tf_keras import layers

    def branch(x):
        if channels:
            x = layers.Conv2D(channels, 1)(x)
        return layers.DepthwiseConv2D(
            kernel, strides=strides, padding=padding, depth_multiplier=multiplier, activation=activation,
            depthwise_initializer=tf_keras.initializers.RandomNormal(stddev=0.47),
            bias_initializer=bias_init or tf_keras.initializers.RandomNormal(stddev=0.1))(x)

    return branch


def _convert(model, per_channel=True, seed=0):
    """int8 .tflite bytes of ``model``, full-integer as tfkd.export.to_tflite converts; ``per_channel=False``
    quantises each filter with one scale (the converter's per-tensor option)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    representative = rng.uniform(-1, 1, size=(32, *model.input_shape[1:])).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel = not per_channel
    return converter.convert()


def _depthwise_steps(tflite_bytes):
    graph, _ = lowering.read_graph(tflite_bytes)
    return [s for s in lowering.lower(graph) if s.kind == "DEPTHWISE_CONV_2D"]


def _inputs(tflite_bytes, seed=0):
    from tfkd.model import read_model

    size = read_model(tflite_bytes).inputs[0].elements
    return np.random.default_rng(seed).integers(-128, 128, size=(SAMPLES, size)).astype(np.int8)


def _check(tflite_bytes, qemu=True):
    samples = _inputs(tflite_bytes)
    expected = TflmRunner(tflite_bytes).run(samples)
    np.testing.assert_array_equal(HostRunner(tflite_bytes).run(samples), expected)
    if qemu:
        np.testing.assert_array_equal(QemuRunner(tflite_bytes).run(samples), expected)


def _geometry_model():
    # 3x3 stride 1 and 2, SAME and VALID, channel counts 5, 6, 8, 22 (groups of four plus 0-3 more),
    # 5x5, 5x3 and 2x3 filters and depth multipliers 2 and 3 (the plain C path on the Cortex-M4 as well).
    return _model((9, 7, 3), [
        _depthwise(channels=5),
        _depthwise(strides=2, channels=6),
        _depthwise(padding="valid", channels=8, activation="relu6"),
        _depthwise(strides=2, padding="valid", channels=22, activation=None),
        _depthwise(channels=22),
        _depthwise(kernel=5, channels=4),
        _depthwise(kernel=(5, 3), channels=8),  # windows cut to 3x2 and 2x3 taps, other shapes too
        _depthwise(kernel=(2, 3), strides=2, channels=4),
        _depthwise(multiplier=2, channels=3),
        _depthwise(strides=2, multiplier=3, channels=2),
    ])


@needs_qemu
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_depthwise_geometry_matches_tflite_micro(per_channel):
    tflite_bytes = _convert(_geometry_model(), per_channel=per_channel)
    steps = _depthwise_steps(tflite_bytes)
    assert len(steps) == 10
    # The fast (folded) requantisation is exercised: the generator proves it for these layers.
    assert any(s.params["fast_requantize"] for s in steps)
    assert {s.params["depth_multiplier"] for s in steps} == {1, 2, 3}
    scales = [len(lowering.read_graph(tflite_bytes)[0].tensors[s.operator.inputs[1]].scales) for s in steps]
    assert (max(scales) > 1) == per_channel, scales
    _check(tflite_bytes)


@needs_qemu
@pytest.mark.parametrize("width", [1, 2, 3])
def test_depthwise_narrow_inputs_match_tflite_micro(width):
    # Widths 1 to 3: no interior column at all (1, 2) or exactly one (3, SAME), borders on both sides.
    branches = [_depthwise(channels=8), _depthwise(strides=2, channels=6), _depthwise(channels=13)]
    if width == 3:
        branches.append(_depthwise(padding="valid", channels=12))
    _check(_convert(_model((5, width, 2), branches)))


@needs_qemu
def test_depthwise_without_fast_requantisation_matches_tflite_micro():
    import tensorflow as tf

    def big(shape, dtype=None):
        # Channel 0's bias lies far above the accumulator range the fast requantisation is proven for,
        # which turns it off for the whole layer; the other channels keep ordinary outputs.
        values = np.random.default_rng(2).normal(0, 0.1, size=shape).astype(np.float32)
        values[0] = 1e6
        return tf.constant(values, dtype=dtype)

    tflite_bytes = _convert(_model((6, 6, 2), [_depthwise(channels=8, bias_init=big, activation=None),
                                               _depthwise(channels=8)]))
    flags = [s.params["fast_requantize"] for s in _depthwise_steps(tflite_bytes)]
    assert sorted(flags) == [0, 1], flags
    _check(tflite_bytes)


def _dilated_model(dilations):
    """DEPTHWISE_CONV_2D carrying its own dilation: tf.raw_ops.DepthwiseConv2dNative converts to one
    operator (Keras' DepthwiseConv2D(dilation_rate=...) becomes SPACE_TO_BATCH_ND around it)."""
    import tensorflow as tf
    import tf_keras

    rng = np.random.default_rng(1)
    kernel = tf.constant(rng.normal(0, 0.5, size=(3, 3, 6, 1)).astype(np.float32))

    def dilated(t):
        return tf.nn.relu(tf.raw_ops.DepthwiseConv2dNative(input=t, filter=kernel, strides=[1, 1, 1, 1],
                                                           padding="SAME", dilations=[1, *dilations, 1]))

    return _model((8, 8, 6), [lambda x: tf_keras.layers.Lambda(dilated)(x)])


@needs_qemu
@pytest.mark.parametrize("dilations", [(2, 2), (2, 1), (1, 3)])
def test_dilated_depthwise_matches_tflite_micro(dilations):
    tflite_bytes = _convert(_dilated_model(dilations))
    steps = _depthwise_steps(tflite_bytes)
    assert len(steps) == 1
    assert (steps[0].params["dilation_height"], steps[0].params["dilation_width"]) == dilations
    _check(tflite_bytes)


@pytest.mark.skipif(os.environ.get("TFKD_SLOW_TESTS") != "1", reason="set TFKD_SLOW_TESTS=1 (one DS-CNN-sized layer)")
@needs_qemu
def test_ds_cnn_sized_layer_matches_tflite_micro():
    _check(_convert(_model((25, 5, 64), [_depthwise()])))


def _in_place_model(channels):
    """A 1x1 convolution to ``channels``, the depthwise layer over its dying output, a 1x1 convolution."""
    import tf_keras
    from tf_keras import layers

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((7, 5, 2))
    x = layers.Conv2D(channels, 1, activation="relu")(inputs)
    x = _depthwise()(x)
    return _convert(tf_keras.Model(inputs, layers.Dense(3)(layers.Flatten()(layers.Conv2D(4, 1)(x)))))


def _bytes_below_input(tflite_bytes):
    """(bytes by which the depthwise output starts below its input, the output's size) in the memory plan."""
    from tfkd.codegen import planner

    graph = lowering.read_int8_model(tflite_bytes)
    steps = lowering.lower(graph)
    plan = planner.plan_memory(graph, steps)
    (step,) = [s for s in steps if s.kind == "DEPTHWISE_CONV_2D"]
    return plan.place(step.args[0][1]) - plan.place(step.output), graph.tensors[step.output].size


@needs_qemu
@pytest.mark.parametrize("channels", [8, 6, 22])
def test_depthwise_in_place_matches_tflite_micro(channels):
    # The planner puts the depthwise output whole pixels below its dying input (overlap.py), where the
    # Cortex-M4 path runs channel groups outside; 6 and 22 channels add channels past the last group of four.
    tflite_bytes = _in_place_model(channels)
    below, size = _bytes_below_input(tflite_bytes)
    assert 0 <= below < size and below % channels == 0, below
    _check(tflite_bytes)


@needs_qemu
def test_depthwise_in_place_off_whole_pixels_matches_tflite_micro(monkeypatch):
    # An output 4 bytes further below than the lead is not whole pixels below its input: the kernel must see it
    # and go pixel by pixel (channel groups outside would overwrite inputs of later groups).
    from tfkd.codegen import overlap

    lead = overlap.output_lead

    def further(step, argument):
        bytes_below = lead(step, argument)
        return bytes_below + 4 if step.function == "tfkd_depthwise_conv2d" and bytes_below is not None else bytes_below

    monkeypatch.setattr(overlap, "output_lead", further)
    tflite_bytes = _in_place_model(8)
    below, size = _bytes_below_input(tflite_bytes)
    assert 0 <= below < size and below % 8 == 4, below
    _check(tflite_bytes)


@needs_qemu
def test_depthwise_without_inline_assembly_matches_tflite_micro(monkeypatch):
    # TFKD_NO_INLINE_ASM: the Cortex-M4 path with its assembly blocks in C (interior pairs, cut windows),
    # at -O0 too, where the assembly is left out.
    tflite_bytes = _convert(_model((9, 7, 3), [_depthwise(channels=5), _depthwise(strides=2, channels=8),
                                               _depthwise(kernel=(5, 3), channels=8)]))
    for optimisation in ("-O2", "-O0"):
        flags = [f for f in cortex_m4.CFLAGS if not f.startswith("-O")]
        monkeypatch.setattr(cortex_m4, "CFLAGS", (*flags, optimisation, "-DTFKD_NO_INLINE_ASM"))
        _check(tflite_bytes)
