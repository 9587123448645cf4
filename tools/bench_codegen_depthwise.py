#!/usr/bin/env python3
"""Instructions per MAC of the generated DEPTHWISE_CONV_2D on an emulated Cortex-M4 (QEMU mps2-an386).

    python tools/bench_codegen_depthwise.py            # the layers of DS-CNN and MobileNetV1-0.25
    python tools/bench_codegen_depthwise.py --json out.json
    python tools/bench_codegen_depthwise.py --fuzz 4       # tools/fuzz_codegen.py's depthwise models, in QEMU

Each layer is a one-operator model (a 3x3 DepthwiseConv2D with bias and a fused ReLU, SAME padding,
seeded random weights) converted to int8 with ``tfkd.export.to_tflite``; ``tfkd.codegen.measure``
builds its generated C for the Cortex-M4 (``-O2``), runs it in QEMU with ``-icount`` on 4 random int8
inputs and checks the outputs against the TFLite Micro Python interpreter. The count is the whole
``model_invoke`` call, which for a one-operator model is the kernel plus a few dozen instructions.
Prints one line per layer: shape, stride, MACs, instructions per inference and per MAC, whether the
layer could use ``tfkd_requantize_fast`` and whether the outputs were bit-exact.

``--fuzz N`` instead runs N random models of ``tools/fuzz_codegen.py`` (8 random DEPTHWISE_CONV_2D
instances each: shapes, channel counts, kernel sizes 1-5, strides 1-3, SAME/VALID, depth multipliers
1-3, activations, per-channel or per-tensor weights) through the Cortex-M4 build in QEMU, so that the
DSP path is fuzzed too (the fuzzer itself compiles the plain C path with the host compiler), and
counts the models whose outputs differ from TFLite Micro's in any byte.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# (name, input height, width, channels, stride): DS-CNN's 25x5x64 block and MobileNetV1-0.25's (96x96x1) layers.
LAYERS = [
    ("ds_cnn", 25, 5, 64, 1),
    ("mobilenet_48x48x8_s1", 48, 48, 8, 1),
    ("mobilenet_48x48x16_s2", 48, 48, 16, 2),
    ("mobilenet_24x24x32_s1", 24, 24, 32, 1),
    ("mobilenet_24x24x32_s2", 24, 24, 32, 2),
    ("mobilenet_12x12x64_s1", 12, 12, 64, 1),
    ("mobilenet_12x12x64_s2", 12, 12, 64, 2),
    ("mobilenet_6x6x128_s1", 6, 6, 128, 1),
    ("mobilenet_6x6x128_s2", 6, 6, 128, 2),
    ("mobilenet_3x3x256_s1", 3, 3, 256, 1),
]
SAMPLES = 4
SEED = 0


def layer_tflite(height, width, channels, stride, seed=SEED):
    """int8 .tflite bytes of one 3x3 depthwise layer (SAME, bias, fused ReLU) on a (height, width, channels) input."""
    import tf_keras

    import tfkd

    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((height, width, channels))
    outputs = tf_keras.layers.DepthwiseConv2D(
        3, strides=stride, padding="same", activation="relu",
        depthwise_initializer=tf_keras.initializers.RandomNormal(stddev=0.47),
        bias_initializer=tf_keras.initializers.RandomNormal(stddev=0.1))(inputs)
    model = tf_keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    representative = rng.uniform(-1, 1, size=(32, height, width, channels)).astype(np.float32)
    return tfkd.export.to_tflite(model, representative, io="int8")


def fast_requantize(tflite_bytes):
    from tfkd.codegen import lowering

    graph, _ = lowering.read_graph(tflite_bytes)
    return [bool(s.params.get("fast_requantize")) for s in lowering.lower(graph) if s.kind == "DEPTHWISE_CONV_2D"]


def measure_layer(name, height, width, channels, stride):
    from tfkd.codegen import measure
    from tfkd.model import read_model

    tflite_bytes = layer_tflite(height, width, channels, stride)
    size = read_model(tflite_bytes).inputs[0].elements
    samples = np.random.default_rng(SEED).integers(-128, 128, size=(SAMPLES, size)).astype(np.int8)
    m = measure(tflite_bytes, samples=samples)
    return {
        "layer": name, "input": f"{height}x{width}x{channels}", "stride": stride, "macs": m["macs"],
        "instructions": m["instructions_per_inference"], "instructions_per_mac": m["instructions_per_mac"],
        "fast_requantize": fast_requantize(tflite_bytes)[0], "bit_exact": m["matches_reference"],
    }


def fuzz_qemu(models, seed=0, log=print):
    """``models`` random depthwise models of tools/fuzz_codegen.py run in QEMU; returns (models, mismatches)."""
    import importlib.util

    from tfkd.codegen import QemuRunner
    from tfkd.codegen.footprint import reference_model
    from tfkd.model import TflmRunner

    spec = importlib.util.spec_from_file_location(
        "fuzz_codegen", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_codegen.py"))
    fuzz_codegen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz_codegen)
    mismatches = 0
    for i in range(models):
        case_seed = seed * 1_000_003 + i * 7919 + 17
        tflite_bytes, inputs = fuzz_codegen.make_case("DEPTHWISE_CONV_2D", case_seed, fuzz_codegen.BRANCHES_PER_MODEL)
        # Keras' dilated depthwise layers are checked against their folded model (tfkd.codegen.dilation).
        expected = TflmRunner(reference_model(tflite_bytes)[1]).run(inputs)
        bad = int((QemuRunner(tflite_bytes).run(inputs) != expected).sum())
        mismatches += int(bad > 0)
        log(f"model {i + 1}/{models} (seed {case_seed}): {bad} mismatched bytes")
    return models, mismatches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated layer names")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--fuzz", type=int, default=0, help="run this many random depthwise models in QEMU instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of --fuzz")
    args = parser.parse_args(argv)
    from tfkd import cli

    cli._import_tensorflow_quietly()
    if args.fuzz:
        models, mismatches = fuzz_qemu(args.fuzz, args.seed, log=lambda line: print(line, flush=True))
        print(f"{models} models ({models * 8} depthwise instances) in QEMU: {mismatches} mismatching")
        return 1 if mismatches else 0
    wanted = set(args.only.split(",")) if args.only else None
    rows = []
    print(f"{'layer':<24} {'input':>10} {'stride':>6} {'MACs':>9} {'instructions':>12} {'per MAC':>7} {'fast':>5} exact")
    for layer in LAYERS:
        if wanted and layer[0] not in wanted:
            continue
        row = measure_layer(*layer)
        rows.append(row)
        print(f"{row['layer']:<24} {row['input']:>10} {row['stride']:>6} {row['macs']:>9,} {row['instructions']:>12,} "
              f"{row['instructions_per_mac']:>7.2f} {str(row['fast_requantize']):>5} {row['bit_exact']}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
