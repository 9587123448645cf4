"""Fuzzing ``tfkd codegen`` against TFLite Micro: random tf_keras models, bit for bit.

Each case builds a small random ``tf_keras`` model around one operator (random shapes, channel
counts, kernel sizes, strides, dilations, padding, fused activations and quantization ranges)
or a random chain of several, converts it to int8 with ``tfkd.export.to_tflite``, and runs
64 inputs (raw int8 noise that saturates every clamp, plus in-range values) through the
generated C compiled with the host compiler and through the Python TFLite Micro interpreter.
Any differing byte is a mismatch. Models of a batch are compiled into one executable.

    python tools/fuzz_codegen.py --cases 200 --seed 0            # the benchmark: 200 per op
    python tools/fuzz_codegen.py --cases 3 --ops SOFTMAX,MEAN    # a quick look

Prints one line per operator (cases, mismatches, errors) and exits 1 on any mismatch or error.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

INPUTS_PER_CASE = 64
BATCH = 24


def _layers():
    import tf_keras
    from tf_keras import layers

    return tf_keras, layers


def _activation(rng):
    return str(rng.choice(["linear", "relu", "relu6"]))


def _act_layer(layers, name):
    return {"linear": lambda t: t, "relu": layers.ReLU(), "relu6": layers.ReLU(6.0)}[name]


def _image(rng, low=3, high=12, channels=(1, 8)):
    return (int(rng.integers(low, high)), int(rng.integers(low, high)), int(rng.integers(*channels)))


def _pre(layers, x, rng, channels=None):
    """A 1x1 convolution in front, so the operator under test sees a random quantized range."""
    return layers.Conv2D(channels or x.shape[-1], 1, use_bias=bool(rng.integers(2)))(x)


def build_conv(rng):
    tf_keras, layers = _layers()
    shape = _image(rng, 4, 14)
    inputs = tf_keras.Input(shape)
    k = int(rng.integers(1, 6))
    dilation = int(rng.choice([1, 1, 2])) if k > 1 else 1
    stride = 1 if dilation > 1 else int(rng.integers(1, 4))
    padding = str(rng.choice(["same", "valid"]))
    if padding == "valid" and (k - 1) * dilation + 1 > min(shape[:2]):
        padding = "same"
    x = layers.Conv2D(int(rng.integers(1, 12)), k, strides=stride, dilation_rate=dilation, padding=padding,
                      activation=_activation(rng), use_bias=bool(rng.integers(2)))(inputs)
    return tf_keras.Model(inputs, x)


def build_depthwise(rng):
    tf_keras, layers = _layers()
    shape = _image(rng, 4, 14)
    inputs = tf_keras.Input(shape)
    k = int(rng.integers(1, 6))
    # Keras lowers a dilated depthwise convolution to SPACE_TO_BATCH_ND around it; dilation is
    # covered by CONV_2D and by the kernel's own tests.
    stride, dilation = int(rng.integers(1, 4)), 1
    padding = str(rng.choice(["same", "valid"]))
    if padding == "valid" and k > min(shape[:2]):
        padding = "same"
    x = layers.DepthwiseConv2D(k, strides=stride, dilation_rate=dilation, padding=padding,
                               depth_multiplier=int(rng.integers(1, 4)), activation=_activation(rng),
                               use_bias=bool(rng.integers(2)))(inputs)
    return tf_keras.Model(inputs, x)


def build_fully_connected(rng):
    tf_keras, layers = _layers()
    inputs = tf_keras.Input((int(rng.integers(1, 40)),))
    x = layers.Dense(int(rng.integers(1, 24)), activation=_activation(rng), use_bias=bool(rng.integers(2)))(inputs)
    return tf_keras.Model(inputs, x)


def _pool(rng, kind):
    tf_keras, layers = _layers()
    shape = _image(rng, 3, 12)
    inputs = tf_keras.Input(shape)
    k = int(rng.integers(1, min(shape[:2]) + 1))
    stride = int(rng.integers(1, 4))
    padding = str(rng.choice(["same", "valid"]))
    pool = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    x = pool(k, strides=stride, padding=padding)(_pre(layers, inputs, rng))
    return tf_keras.Model(inputs, x)


def build_max_pool(rng):
    return _pool(rng, "max")


def build_average_pool(rng):
    return _pool(rng, "average")


def _binary(rng, layer_type):
    tf_keras, layers = _layers()
    shape = _image(rng, 1, 8)
    inputs = tf_keras.Input(shape)
    a = _pre(layers, inputs, rng)
    b = _pre(layers, inputs, rng)
    if rng.integers(3) == 0:  # broadcast one side over the spatial axes
        b = layers.GlobalAveragePooling2D(keepdims=True)(b)
    x = layer_type()([a, b])
    return tf_keras.Model(inputs, _act_layer(layers, _activation(rng))(x))


def build_add(rng):
    return _binary(rng, _layers()[1].Add)


def build_sub(rng):
    return _binary(rng, _layers()[1].Subtract)


def build_mul(rng):
    return _binary(rng, _layers()[1].Multiply)


def _unary(rng, make):
    tf_keras, layers = _layers()
    inputs = tf_keras.Input(_image(rng, 1, 7))
    return tf_keras.Model(inputs, make(layers, _pre(layers, inputs, rng)))


def build_softmax(rng):
    return _unary(rng, lambda layers, x: layers.Softmax()(layers.Flatten()(x) if rng.integers(2) else x))


def build_logistic(rng):
    return _unary(rng, lambda layers, x: layers.Activation("sigmoid")(x))


def build_tanh(rng):
    return _unary(rng, lambda layers, x: layers.Activation("tanh")(x))


def build_leaky_relu(rng):
    return _unary(rng, lambda layers, x: layers.LeakyReLU(float(rng.uniform(0.01, 0.9)))(x))


def build_hard_swish(rng):
    import tensorflow as tf

    return _unary(rng, lambda layers, x: layers.Lambda(lambda t: t * tf.nn.relu6(t + 3.0) * (1.0 / 6.0))(x))


def _standalone_activation(rng, activation):
    # A concatenation in front keeps the converter from fusing the activation into a convolution.
    tf_keras, layers = _layers()
    inputs = tf_keras.Input(_image(rng, 1, 7))
    x = layers.Concatenate()([_pre(layers, inputs, rng), _pre(layers, inputs, rng)])
    return tf_keras.Model(inputs, activation(layers)(x))


def build_relu(rng):
    return _standalone_activation(rng, lambda layers: layers.ReLU())


def build_relu6(rng):
    return _standalone_activation(rng, lambda layers: layers.ReLU(6.0))


def build_mean(rng):
    return _unary(rng, lambda layers, x: layers.GlobalAveragePooling2D(keepdims=bool(rng.integers(2)))(x))


def build_concatenation(rng):
    tf_keras, layers = _layers()
    inputs = tf_keras.Input(_image(rng, 1, 7))
    parts = [layers.Conv2D(int(rng.integers(1, 6)), 1)(inputs) for _ in range(int(rng.integers(2, 4)))]
    return tf_keras.Model(inputs, layers.Concatenate(axis=-1)(parts))


def build_pad(rng):
    pads = tuple(tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in range(2))
    return _unary(rng, lambda layers, x: layers.ZeroPadding2D(pads)(x))


def build_reshape(rng):
    return _unary(rng, lambda layers, x: layers.Dense(int(rng.integers(1, 9)))(layers.Flatten()(x)))


def build_expand_dims(rng):
    import tensorflow as tf

    return _unary(rng, lambda layers, x: layers.Lambda(lambda t: tf.expand_dims(t, 1))(layers.Flatten()(x)))


def build_squeeze(rng):
    import tensorflow as tf

    def make(layers, x):
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        return layers.Lambda(lambda t: tf.squeeze(t, axis=[1, 2]))(x)

    return _unary(rng, make)


def build_chain(rng):
    """Several random operators in a row: convolutions, pooling, activations, softmax at the end."""
    tf_keras, layers = _layers()
    inputs = tf_keras.Input(_image(rng, 6, 14))
    x = inputs
    for _ in range(int(rng.integers(2, 5))):
        choice = int(rng.integers(6))
        if choice == 0:
            x = layers.Conv2D(int(rng.integers(2, 10)), int(rng.integers(1, 4)), padding="same",
                              activation=_activation(rng))(x)
        elif choice == 1:
            x = layers.DepthwiseConv2D(3, padding="same", activation=_activation(rng))(x)
        elif choice == 2 and min(x.shape[1:3]) >= 2:
            x = layers.MaxPooling2D(2)(x)
        elif choice == 3:
            x = layers.Add()([x, layers.Conv2D(x.shape[-1], 1)(x)])
        elif choice == 4:
            x = layers.Activation(str(rng.choice(["sigmoid", "tanh"])))(x)
        else:
            x = layers.LeakyReLU(0.1)(layers.Conv2D(4, 1)(x))
    x = layers.Dense(int(rng.integers(2, 10)))(layers.GlobalAveragePooling2D()(x))
    return tf_keras.Model(inputs, layers.Softmax()(x))


BUILDERS = {
    "CONV_2D": build_conv, "DEPTHWISE_CONV_2D": build_depthwise, "FULLY_CONNECTED": build_fully_connected,
    "MAX_POOL_2D": build_max_pool, "AVERAGE_POOL_2D": build_average_pool, "ADD": build_add, "SUB": build_sub,
    "MUL": build_mul, "SOFTMAX": build_softmax, "LOGISTIC": build_logistic, "TANH": build_tanh,
    "RELU": build_relu, "RELU6": build_relu6, "LEAKY_RELU": build_leaky_relu, "HARD_SWISH": build_hard_swish,
    "MEAN": build_mean, "CONCATENATION": build_concatenation, "PAD": build_pad, "RESHAPE": build_reshape,
    "EXPAND_DIMS": build_expand_dims, "SQUEEZE": build_squeeze, "CHAIN": build_chain,
}


def make_case(op, seed):
    """``(tflite_bytes, int8 inputs)`` of one seeded random case for ``op``."""
    import tf_keras

    import tfkd
    from tfkd.model import quantize, read_model

    rng = np.random.default_rng(seed)
    tf_keras.utils.set_random_seed(seed)
    model = BUILDERS[op](rng)
    spread = float(10 ** rng.uniform(-1, 1))
    offset = float(rng.uniform(-0.5, 0.5)) * spread
    shape = model.input_shape[1:]
    representative = (rng.uniform(-spread, spread, size=(32, *shape)) + offset).astype(np.float32)
    tflite_bytes = tfkd.export.to_tflite(model, representative, io="int8")
    scale, zero_point = read_model(tflite_bytes).inputs[0].quantization
    size = int(np.prod(shape))
    noise = rng.integers(-128, 128, size=(INPUTS_PER_CASE // 2, size)).astype(np.int8)
    in_range = quantize(rng.uniform(-spread, spread, size=(INPUTS_PER_CASE // 2, size)) + offset, scale, zero_point)
    return tflite_bytes, np.concatenate([noise, in_range])


def _harness(names):
    lines = ["#include <stdint.h>", "#include <stdio.h>", "#include <stdlib.h>"]
    lines += [f'#include "{n}.h"' for n in names]
    lines += ["static int8_t in_buf[1 << 20], out_buf[1 << 20];",
              "static int run(int (*invoke)(const int8_t *, int8_t *), size_t in_size, size_t out_size) {",
              "  while (fread(in_buf, 1, in_size, stdin) == in_size) {",
              "    if (invoke(in_buf, out_buf) != 0) return 1;",
              "    if (fwrite(out_buf, 1, out_size, stdout) != out_size) return 1;",
              "  }", "  return 0;", "}",
              "int main(int argc, char **argv) {", "  if (argc != 2) return 2;", "  switch (atoi(argv[1])) {"]
    for k, n in enumerate(names):
        lines.append(f"    case {k}: return run({n}_invoke, {n.upper()}_INPUT_SIZE, {n.upper()}_OUTPUT_SIZE);")
    lines += ["  }", "  return 2;", "}", ""]
    return "\n".join(lines)


def check_batch(cases):
    """Compiles the generated C of every ``(label, tflite_bytes, inputs)`` into one executable; returns one
    result dict per case: mismatched bytes, or the error that stopped generation."""
    from tfkd.codegen import compile_model, host
    from tfkd.model import TflmRunner

    results, compiled = [], []
    with tempfile.TemporaryDirectory(prefix="tfkd-fuzz-") as directory:
        for k, (label, tflite_bytes, inputs) in enumerate(cases):
            name = f"m{k}"
            try:
                sources, summary = compile_model(tflite_bytes, name)
            except ValueError as e:
                results.append({"case": label, "error": str(e)})
                continue
            for filename, text in sources.items():
                with open(os.path.join(directory, filename), "w", encoding="utf-8") as f:
                    f.write(text)
            compiled.append((label, name, tflite_bytes, inputs, summary))
        harness = os.path.join(directory, "fuzz_main.c")
        with open(harness, "w", encoding="utf-8") as f:
            f.write(_harness([c[1] for c in compiled]))
        executable = os.path.join(directory, "fuzz")
        command = [os.environ.get("CC", "gcc"), *host.HOST_CFLAGS, "-I", directory, *host.c_sources(directory),
                   "-o", executable]
        build = subprocess.run(command, capture_output=True, text=True)
        if build.returncode:
            raise OSError(f"compiling the fuzz batch failed: {build.stderr[:2000]}")
        for k, (label, name, tflite_bytes, inputs, summary) in enumerate(compiled):
            run = subprocess.run([executable, str(k)], input=inputs.tobytes(), capture_output=True, timeout=120)
            ours = np.frombuffer(run.stdout, np.int8).reshape(len(inputs), summary["output_size"])
            theirs = TflmRunner(tflite_bytes).run(inputs)
            results.append({"case": label, "ops": summary["ops"], "mismatched_bytes": int((ours != theirs).sum())})
    return results


def fuzz(ops, cases, seed=0, log=print):
    """Runs ``cases`` seeded cases per operator; returns {op: {"cases", "mismatches", "errors", "examples"}}."""
    pending = [(op, seed * 1_000_003 + i * 7919 + sum(map(ord, op))) for op in ops for i in range(cases)]
    summary = {op: {"cases": 0, "with_op": 0, "mismatches": 0, "errors": 0, "examples": []} for op in ops}
    for start in range(0, len(pending), BATCH):
        batch = []
        for op, case_seed in pending[start:start + BATCH]:
            tflite_bytes, inputs = make_case(op, case_seed)
            batch.append(((op, case_seed), tflite_bytes, inputs))
        for result in check_batch(batch):
            op, case_seed = result["case"]
            entry = summary[op]
            entry["cases"] += 1
            entry["with_op"] += int(op in result.get("ops", ()) or op == "CHAIN" and "error" not in result)
            bad = "error" in result or result["mismatched_bytes"]
            if "error" in result:
                entry["errors"] += 1
            elif result["mismatched_bytes"]:
                entry["mismatches"] += 1
            if bad and len(entry["examples"]) < 3:
                entry["examples"].append({"seed": case_seed, **{k: v for k, v in result.items() if k != "case"}})
        log(f"{min(start + BATCH, len(pending))}/{len(pending)} cases")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per operator (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ops", default=",".join(BUILDERS), help="comma-separated operators (default: all)")
    parser.add_argument("--json", help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    ops = [op.strip().upper() for op in args.ops.split(",") if op.strip()]
    unknown = [op for op in ops if op not in BUILDERS]
    if unknown:
        parser.error(f"unknown operators {unknown}; expected some of {', '.join(BUILDERS)}")
    from tfkd import cli

    cli._import_tensorflow_quietly()
    began = time.time()
    summary = fuzz(ops, args.cases, args.seed, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{'operator':<20} {'cases':>6} {'with op':>8} {'mismatches':>10} {'errors':>6}")
    for op, entry in summary.items():
        print(f"{op:<20} {entry['cases']:>6} {entry['with_op']:>8} {entry['mismatches']:>10} {entry['errors']:>6}")
        for example in entry["examples"]:
            print(f"    seed {example['seed']}: {example}")
    print(f"{sum(e['cases'] for e in summary.values())} cases in {time.time() - began:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return 1 if any(e["mismatches"] or e["errors"] for e in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
