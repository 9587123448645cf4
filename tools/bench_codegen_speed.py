"""Instructions per MAC of the generated C on QEMU Cortex-M4 (mps2-an386, -icount) for the deployed-shaped
models of tests/codegen_models.py, and for single convolution layers of their shapes.

    python tools/bench_codegen_speed.py                 # the four models of DEPLOYED_MODELS
    python tools/bench_codegen_speed.py --layers        # one-layer models: where the instructions go
    python tools/bench_codegen_speed.py --models resnet8 ds_cnn_kws
    python tools/bench_codegen_speed.py --fuzz 6 --seed 1   # fuzz_codegen's CONV_2D / FULLY_CONNECTED models in QEMU
    python tools/bench_codegen_speed.py --stream off        # row streaming off (or "all"; default "auto")

Each figure is tfkd.codegen.measure on 2 random int8 inputs (tests/codegen_models.random_int8_inputs), with
the outputs checked bit for bit against the TFLite Micro Python interpreter. ``--fuzz N`` runs N random models
of each of CONV_2D and FULLY_CONNECTED from tools/fuzz_codegen.py in QEMU instead, so that the Cortex-M4 paths
meet random shapes and quantisation too (the fuzzer itself runs the plain C path on the host).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from codegen_models import DEPLOYED_MODELS, deployed_tflite, random_int8_inputs  # noqa: E402
from tfkd.codegen import measure  # noqa: E402


def _layer(name, input_shape, make):
    def builder():
        inputs = tf_keras.Input(input_shape)
        return tf_keras.Model(inputs, make(inputs), name=name)
    return builder


def _conv(filters, kernel, strides=1, padding="same"):
    return lambda x: tf_keras.layers.ReLU()(tf_keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding)(x))


# The convolutions the deployed-shaped models spend their time in (shapes from tests/codegen_models.py).
LAYERS = {
    "ds_cnn first conv 10x4 s2, 49x10x1 -> 25x5x64": _layer("c10x4", (49, 10, 1), _conv(64, (10, 4), 2)),
    "ds_cnn pointwise 25x5x64 -> 64": _layer("pw64", (25, 5, 64), _conv(64, 1)),
    "resnet8 first conv 3x3, 32x32x3 -> 16": _layer("c3", (32, 32, 3), _conv(16, 3)),
    "resnet8 conv 3x3, 32x32x16 -> 16": _layer("c16", (32, 32, 16), _conv(16, 3)),
    "resnet8 conv 3x3 s2, 32x32x16 -> 32": _layer("c16s2", (32, 32, 16), _conv(32, 3, 2)),
    "resnet8 conv 3x3, 8x8x64 -> 64": _layer("c64", (8, 8, 64), _conv(64, 3)),
    "mobilenet first conv 3x3 s2, 96x96x1 -> 8": _layer("m1", (96, 96, 1), _conv(8, 3, 2)),
    "mobilenet pointwise 48x48x8 -> 16": _layer("mpw8", (48, 48, 8), _conv(16, 1)),
    "mobilenet pointwise 24x24x16 -> 32": _layer("mpw16", (24, 24, 16), _conv(32, 1)),
    "mobilenet pointwise 12x12x64 -> 64": _layer("mpw64", (12, 12, 64), _conv(64, 1)),
    "mobilenet pointwise 6x6x128 -> 128": _layer("mpw128", (6, 6, 128), _conv(128, 1)),
    "fc 640 -> 128": _layer("fc", (640,), lambda x: tf_keras.layers.Dense(128)(x)),
}


def report(label, tflite, stream="auto"):
    m = measure(tflite, samples=random_int8_inputs(tflite, 2), stream=stream)
    print(f"| {label} | {m['macs']:,} | {m['instructions_per_inference']:,} | {m['instructions_per_mac']:.2f} | "
          f"{m['stack_bytes']} | {m['arena_bytes']:,} | {m['ram_bytes']:,} | {m['flash_bytes']:,} | "
          f"{'yes' if m['matches_reference'] else 'NO'} |", flush=True)
    return m


def fuzz_qemu(models, seed=0):
    """``models`` random models per operator of tools/fuzz_codegen.py in QEMU; returns the mismatching count."""
    import importlib.util

    from tfkd.codegen import QemuRunner
    from tfkd.codegen.footprint import reference_model
    from tfkd.model import ModelError, TflmRunner

    spec = importlib.util.spec_from_file_location("fuzz_codegen", os.path.join(os.path.dirname(__file__), "fuzz_codegen.py"))
    fuzz_codegen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz_codegen)
    mismatching = skipped = 0
    for op in ("CONV_2D", "FULLY_CONNECTED"):
        for i in range(models):
            case_seed = seed * 1_000_003 + i * 7919 + 29
            tflite_bytes, inputs = fuzz_codegen.make_case(op, case_seed, fuzz_codegen.BRANCHES_PER_MODEL)
            try:
                outputs = QemuRunner(tflite_bytes).run(inputs)
            except ModelError as e:
                print(f"{op} model {i + 1}/{models} (seed {case_seed}): not generated ({e})"[:200], flush=True)
                skipped += 1
                continue
            # Keras' dilated convolutions are checked against their folded model (tfkd.codegen.dilation).
            bad = int((outputs != TflmRunner(reference_model(tflite_bytes)[1]).run(inputs)).sum())
            mismatching += bad > 0
            print(f"{op} model {i + 1}/{models} (seed {case_seed}): {bad} mismatched bytes", flush=True)
    print(f"{mismatching} of {2 * models - skipped} models mismatching ({skipped} not generated)")
    return mismatching


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, choices=sorted(DEPLOYED_MODELS),
                        help="deployed-shaped models to measure (default: all four unless --layers)")
    parser.add_argument("--layers", action="store_true", help="measure the single-layer models of LAYERS")
    parser.add_argument("--fuzz", type=int, default=0, help="run this many random models per operator in QEMU instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of --fuzz")
    parser.add_argument("--stream", default="auto", choices=["auto", "all", "off"],
                        help="row streaming of the generated C (tfkd.codegen.compile_model's stream)")
    args = parser.parse_args(argv)
    if args.fuzz:
        return 1 if fuzz_qemu(args.fuzz, args.seed) else 0
    print("| model | MACs | instructions / inference | instructions / MAC | stack bytes | arena bytes | RAM bytes | "
          "flash bytes | bit-exact |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    mismatches = 0
    if args.layers:
        for label, builder in LAYERS.items():
            mismatches += not report(label, deployed_tflite(builder), args.stream)["matches_reference"]
    names = args.models if args.models is not None else ([] if args.layers else list(DEPLOYED_MODELS))
    for name in names:
        mismatches += not report(name, deployed_tflite(DEPLOYED_MODELS[name]), args.stream)["matches_reference"]
    return 1 if mismatches else 0


if __name__ == "__main__":
    np.set_printoptions(linewidth=200)
    sys.exit(main())
