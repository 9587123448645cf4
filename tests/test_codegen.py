"""Generated C, compiled with the host compiler, against the TFLite Micro interpreter: byte for byte."""

import os
import shutil

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from codegen_models import SEED, quantize_inputs, random_int8_inputs
from tfkd import cli
from tfkd.codegen import compile_model, generate, host, planner, quantization, read_int8_model
from tfkd.model import TflmRunner
from tfkd.codegen.lowering import lower

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")

RANDOM_INPUTS = 64


def _assert_bit_exact(tflite_bytes, inputs, out_dir, name="model"):
    summary = generate(tflite_bytes, out_dir, name=name)
    executable = host.compile_host(out_dir, name=name)
    ours = host.run_host(executable, inputs, summary["output_size"])
    theirs = TflmRunner(tflite_bytes).run(inputs)
    mismatches = np.argwhere(ours != theirs)
    assert mismatches.size == 0, f"{len(mismatches)} bytes differ from TFLite Micro, first at {mismatches[0]}"
    return summary


@pytest.mark.parametrize("fixture", ["cnn_student", "ds_cnn_student"])
def test_reference_students_on_digits_are_bit_exact(fixture, request, tmp_path):
    tflite_bytes, x_test = request.getfixturevalue(fixture)
    inputs = np.concatenate([x_test, random_int8_inputs(tflite_bytes, RANDOM_INPUTS)])
    summary = _assert_bit_exact(tflite_bytes, inputs, tmp_path)
    assert summary["ops"][-1] == "FULLY_CONNECTED"
    assert "RESHAPE" in summary["ops"]


def _convert(model, seed):
    rng = np.random.default_rng(seed)
    representative = rng.uniform(-1.0, 1.0, size=(64, *model.input_shape[1:])).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="int8")


def _conv_stack(seed):
    """Conv2D: kernel sizes 1/3/5, strides 1/2, SAME/VALID (odd sizes: asymmetric SAME padding), ReLU/ReLU6/none."""
    inputs = tf_keras.Input((11, 9, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)  # no activation
    x = layers.ReLU(6.0)(layers.Conv2D(6, 5, padding="same")(x))
    x = layers.ReLU()(layers.Conv2D(12, 1, padding="valid")(x))
    x = layers.Conv2D(5, 3, strides=2, padding="valid", use_bias=False)(x)
    x = layers.Flatten()(x)
    return tf_keras.Model(inputs, layers.Dense(7)(x))


def _depthwise_stack(seed):
    """DepthwiseConv2D: depth multipliers 1/2, kernel sizes 3/5, strides 1/2, SAME/VALID, activations."""
    inputs = tf_keras.Input((10, 10, 4))
    x = layers.ReLU()(layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inputs))
    x = layers.DepthwiseConv2D(5, strides=2, padding="same")(x)  # no activation
    x = layers.ReLU(6.0)(layers.DepthwiseConv2D(3, padding="valid", depth_multiplier=2)(x))
    x = layers.DepthwiseConv2D(1, strides=2, padding="valid")(x)
    x = layers.Flatten()(x)
    return tf_keras.Model(inputs, layers.Dense(5)(x))


def _pool_stack(seed):
    """Max and average pooling: windows 2/3, strides 1/2, SAME/VALID (SAME clips windows at the border)."""
    inputs = tf_keras.Input((9, 9, 5))
    x = layers.ReLU()(layers.Conv2D(6, 3, padding="same")(inputs))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.AveragePooling2D(2, strides=1, padding="same")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="valid")(x)
    x = layers.Conv2D(4, 1)(x)
    x = layers.MaxPooling2D(2, strides=1, padding="valid")(x)
    return tf_keras.Model(inputs, layers.Flatten()(x))


def _mlp(seed):
    """Dense layers on a vector input (FULLY_CONNECTED without reshape), ReLU/ReLU6/none."""
    inputs = tf_keras.Input((13,))
    x = layers.ReLU()(layers.Dense(24)(inputs))
    x = layers.ReLU(6.0)(layers.Dense(16)(x))
    return tf_keras.Model(inputs, layers.Dense(3)(x))


def _residual(seed):
    """ADD of two branches with different scales, then ADD with a fused ReLU."""
    inputs = tf_keras.Input((6, 6, 4))
    a = layers.Conv2D(8, 3, padding="same")(inputs)
    b = layers.ReLU()(layers.Conv2D(8, 1)(inputs))
    x = layers.Add()([a, b])
    x = layers.ReLU()(layers.Add()([x, layers.Conv2D(8, 1)(x)]))
    return tf_keras.Model(inputs, layers.Dense(4)(layers.Flatten()(x)))


@pytest.mark.parametrize("builder", [_conv_stack, _depthwise_stack, _pool_stack, _mlp, _residual],
                         ids=lambda b: b.__name__.strip("_"))
def test_generated_models_are_bit_exact(builder, tmp_path):
    tf_keras.utils.set_random_seed(SEED)
    model = builder(SEED)
    tflite_bytes = _convert(model, SEED)
    rng = np.random.default_rng(SEED)
    float_inputs = rng.uniform(-1.0, 1.0, size=(RANDOM_INPUTS, *model.input_shape[1:])).astype(np.float32)
    # In-range inputs like the data, plus raw int8 noise that saturates every clamp.
    inputs = np.concatenate([quantize_inputs(tflite_bytes, float_inputs), random_int8_inputs(tflite_bytes, 32)])
    _assert_bit_exact(tflite_bytes, inputs, tmp_path)


def test_expected_operators_are_exercised():
    """The generated models above really produce the operators and options they claim to test."""
    tf_keras.utils.set_random_seed(SEED)
    kinds = set()
    depth_multipliers = set()
    for builder in (_depthwise_stack, _residual, _pool_stack):
        steps = lower(read_int8_model(_convert(builder(SEED), SEED)))
        kinds |= {s.kind for s in steps}
        depth_multipliers |= {s.params["depth_multiplier"] for s in steps if s.kind == "DEPTHWISE_CONV_2D"}
    assert {"ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "DEPTHWISE_CONV_2D", "CONV_2D"} <= kinds
    assert depth_multipliers == {1, 2}


def test_memory_plan_shares_the_arena(cnn_student):
    tflite_bytes, _ = cnn_student
    graph = read_int8_model(tflite_bytes)
    steps = lower(graph)
    plan = planner.plan_memory(graph, steps)
    in_arena = [s.output for s in steps if s.function and isinstance(plan.place(s.output), int)]
    assert plan.arena_size < sum(graph.tensors[t].size for t in in_arena)
    for step in steps:  # an output overlaps its input only in place: starting below it, for a windowed kernel
        source = plan.place(step.args[0][1])
        target = plan.place(step.output)
        if step.function and isinstance(source, int) and isinstance(target, int):
            a, b = graph.tensors[step.args[0][1]].size, graph.tensors[step.output].size
            assert source + a <= target or target + b <= source or (
                target < source and step.function in ("tfkd_conv2d", "tfkd_depthwise_conv2d", "tfkd_max_pool"))
    assert isinstance(plan.place(graph.input_indices[0]), int) and plan.place(graph.output_indices[0]) == "output"


def test_input_written_in_its_arena_place_gives_the_same_outputs(cnn_student, tmp_path):
    tflite_bytes, x_test = cnn_student
    summary = generate(tflite_bytes, tmp_path, name="net")
    assert summary["input_in_arena"]
    assert "int8_t *net_input(void);" in (tmp_path / "net.h").read_text()
    copied = host.run_host(host.compile_host(tmp_path, name="net"), x_test[:32], summary["output_size"])
    in_place = host.run_host(host.compile_host(tmp_path, name="net", executable=str(tmp_path / "in_place"),
                                               input_in_arena=True), x_test[:32], summary["output_size"])
    assert np.array_equal(in_place, copied)
    assert np.array_equal(copied, TflmRunner(tflite_bytes).run(x_test[:32]))


def test_quantize_multiplier_matches_tflite_rules():
    assert quantization.quantize_multiplier(0.0) == (0, 0)
    assert quantization.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantization.quantize_multiplier(1.0) == (1 << 30, 1)
    # Rounding the fraction up to 2**31 renormalises to 2**30 with one more shift.
    assert quantization.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    assert quantization.quantize_multiplier(2.0 ** -40) == (0, 0)
    with pytest.raises(ValueError, match="-1.0"):
        quantization.quantize_multiplier(-1.0)


def test_unsupported_operator_is_named(tmp_path):
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((4, 4, 2))
    model = tf_keras.Model(inputs, layers.UpSampling2D()(layers.Conv2D(3, 1)(inputs)))
    with pytest.raises(ValueError, match=r"RESIZE_NEAREST_NEIGHBOR \(operator #1\).*supported: CONV_2D.*SOFTMAX"):
        generate(_convert(model, SEED), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _rewritten(tflite_bytes, change):
    """``tflite_bytes`` re-packed after ``change(model)`` edits its object tree (LiteRT's schema)."""
    import copy

    import flatbuffers
    from tfkd.model.schema import schema

    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    change(model, copy)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_several_subgraphs_or_float_operators_are_refused_without_files(cnn_student, tmp_path):
    two_subgraphs = _rewritten(cnn_student[0], lambda m, copy: m.subgraphs.append(copy.deepcopy(m.subgraphs[0])))
    with pytest.raises(ValueError, match="2 subgraphs; code generation supports exactly 1"):
        generate(two_subgraphs, tmp_path / "a")

    def float_activation(model, copy):
        graph = model.subgraphs[0]
        graph.tensors[graph.operators[1].outputs[0]].type = 0  # FLOAT32, between two int8 operators

    with pytest.raises(ValueError, match=r"float32 at .*MAX_POOL_2D \(operator #1\)"):
        generate(_rewritten(cnn_student[0], float_activation), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_inputs_are_value_errors(cnn_student):
    with pytest.raises(ValueError, match="TFL3"):
        compile_model(b"not a model at all")
    with pytest.raises(ValueError, match="'my-model'"):
        compile_model(cnn_student[0], name="my-model")


def test_export_alias_and_custom_name(cnn_student, tmp_path):
    tflite_bytes, x_test = cnn_student
    summary = tfkd.export.codegen(tflite_bytes, tmp_path, name="digits_net")
    assert sorted(os.path.basename(p) for p in summary["files"]) == sorted(os.listdir(tmp_path))
    header = (tmp_path / "digits_net.h").read_text()
    assert "int digits_net_invoke(const int8_t *input, int8_t *output);" in header
    assert f"#define DIGITS_NET_ARENA_SIZE {summary['arena_bytes']}" in header
    _assert_bit_exact(tflite_bytes, x_test[:16], tmp_path, name="digits_net")


def test_cli_writes_sources_and_reports_errors(cnn_student, tmp_path, capsys):
    model_path = tmp_path / "model.tflite"
    model_path.write_bytes(cnn_student[0])
    out = tmp_path / "generated"
    assert cli.main(["tfkd", "codegen", str(model_path), "--out", str(out), "--nomeasure"]) == 0
    assert {"model.h", "model.c", "tfkd_kernels.h", "tfkd_conv2d.c"} <= set(os.listdir(out))
    printed = capsys.readouterr().out
    summary = compile_model(cnn_student[0])[1]
    assert "CONV_2D" in printed
    assert f"RAM {summary['arena_bytes']} bytes" in printed and f"{summary['macs']} MACs" in printed
    # Flash holds at least every weight byte; the expected figure counts them and the multipliers.
    weights = sum(t.data.nbytes for t in read_int8_model(cnn_student[0]).tensors if t.data is not None)
    assert weights <= summary["constant_bytes"] < weights + 1024
    assert cli.main(["tfkd", "inspect", str(model_path), "--noarena"]) == 0
    assert f"tfkd codegen: RAM {summary['arena_bytes']:,} bytes" in capsys.readouterr().out
    assert cli.main(["tfkd", "codegen", str(tmp_path / "missing.tflite"), "--out", str(out)]) == 2
    assert "missing.tflite" in capsys.readouterr().err
