"""Fuzzing ``tfkd codegen`` against TFLite Micro: random tf_keras models, bit for bit.

Each model holds several independent random instances of one operator (random shapes, channel
counts, kernel sizes, strides, dilations, padding, fused activations and quantization ranges), or
random chains of several operators, side by side on one input and joined by a concatenation; it
is converted to int8 with ``tfkd.export.to_tflite`` and 64 inputs (raw int8 noise that saturates
every clamp, plus in-range values) run through the generated C compiled with the host compiler and through the Python TFLite Micro interpreter
(which runs Keras' dilated convolutions folded into one operator: as converted it miscomputes them, see
``tfkd/codegen/dilation.py``). Any differing byte is a mismatch. Models of a batch are compiled into one executable.

    python tools/fuzz_codegen.py --cases 200 --seed 0            # the benchmark: 200 per op
    python tools/fuzz_codegen.py --cases 3 --ops SOFTMAX,MEAN    # a quick look

Prints one line per operator (instances, models, models containing the operator, mismatching
models, models code generation refused) and exits 1 on any mismatch or error.
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
BATCH = 6
# Independent random instances of the operator per model: one conversion checks several.
BRANCHES_PER_MODEL = 8


def _layers():
    import tf_keras
    from tf_keras import layers

    return tf_keras, layers


def _activation(rng):
    return str(rng.choice(["linear", "relu", "relu6"]))


def _act(layers, name):
    return {"linear": lambda t: t, "relu": layers.ReLU(), "relu6": layers.ReLU(6.0)}[name]


def _pre(layers, x, rng, channels=None):
    """A 1x1 convolution in front, so that each branch sees its own random quantized range and depth."""
    return layers.Conv2D(channels or int(rng.integers(1, 9)), 1, use_bias=bool(rng.integers(2)))(x)


def _window(rng, x):
    k = int(rng.integers(1, 6))
    # The converter keeps some dilated convolutions whole (CONV_2D with its dilation) and wraps the others in
    # SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND, which codegen folds back (tfkd/codegen/dilation.py).
    dilation = int(rng.choice([1, 1, 2, 3])) if k > 1 else 1
    stride = 1 if dilation > 1 else int(rng.integers(1, 4))
    padding = str(rng.choice(["same", "valid"]))
    if padding == "valid" and (k - 1) * dilation + 1 > min(x.shape[1:3]):
        padding = "same"
    return k, stride, dilation, padding


# One branch per operator: x (an NHWC tensor) in, a tensor out. ``rng`` draws every choice.

def branch_conv(rng, layers, x):
    k, stride, dilation, padding = _window(rng, x)
    return layers.Conv2D(int(rng.integers(1, 12)), k, strides=stride, dilation_rate=dilation, padding=padding,
                         activation=_activation(rng), use_bias=bool(rng.integers(2)))(x)


def branch_depthwise(rng, layers, x):
    k, stride, dilation, padding = _window(rng, x)
    return layers.DepthwiseConv2D(k, strides=stride, dilation_rate=dilation, padding=padding,
                                  depth_multiplier=int(rng.integers(1, 4)),
                                  activation=_activation(rng), use_bias=bool(rng.integers(2)))(_pre(layers, x, rng))


def branch_transpose_conv(rng, layers, x):
    # Keras' Conv2DTranspose computes its output shape at run time (SHAPE, STRIDED_SLICE, PACK); a
    # fixed batch-1 output shape gives the plain TRANSPOSE_CONV that deployed models carry.
    import tensorflow as tf

    x = _pre(layers, x, rng)
    k, stride = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    padding = str(rng.choice(["SAME", "VALID"]))
    height, width, depth = x.shape[1:]
    out_h, out_w = ((height * stride, width * stride) if padding == "SAME" else
                    ((height - 1) * stride + k, (width - 1) * stride + k))
    channels = int(rng.integers(1, 9))
    kernel = tf.constant(rng.normal(0, 0.5, size=(k, k, channels, depth)).astype(np.float32))
    bias = tf.constant(rng.normal(0, 0.5, size=channels).astype(np.float32))
    activation = _activation(rng)

    def transpose_conv(t):
        y = tf.nn.conv2d_transpose(t, kernel, output_shape=[1, out_h, out_w, channels], strides=stride,
                                   padding=padding)
        return {"linear": lambda v: v, "relu": tf.nn.relu, "relu6": tf.nn.relu6}[activation](y + bias)

    return layers.Lambda(transpose_conv)(x)


def branch_fully_connected(rng, layers, x):
    return layers.Dense(int(rng.integers(1, 24)), activation=_activation(rng),
                        use_bias=bool(rng.integers(2)))(layers.Flatten()(_pre(layers, x, rng)))


def _pool(rng, layers, x, pool):
    k = int(rng.integers(1, min(x.shape[1:3]) + 1))
    return pool(k, strides=int(rng.integers(1, 4)), padding=str(rng.choice(["same", "valid"])))(_pre(layers, x, rng))


def branch_max_pool(rng, layers, x):
    return _pool(rng, layers, x, layers.MaxPooling2D)


def branch_average_pool(rng, layers, x):
    return _pool(rng, layers, x, layers.AveragePooling2D)


def _binary(rng, layers, x, layer_type):
    channels = int(rng.integers(1, 9))
    a, b = _pre(layers, x, rng, channels), _pre(layers, x, rng, channels)
    if rng.integers(3) == 0:  # broadcast one side over the spatial axes
        b = layers.GlobalAveragePooling2D(keepdims=True)(b)
    return _act(layers, _activation(rng))(layer_type()([a, b]))


def branch_add(rng, layers, x):
    return _binary(rng, layers, x, layers.Add)


def branch_sub(rng, layers, x):
    return _binary(rng, layers, x, layers.Subtract)


def branch_mul(rng, layers, x):
    return _binary(rng, layers, x, layers.Multiply)


def branch_softmax(rng, layers, x):
    x = _pre(layers, x, rng)
    # TFLite Micro aborts (TFLITE_CHECK on the exponent) when 512 or more values of a row tie near the
    # maximum; rows stay below that here.
    flat = rng.integers(2) and int(np.prod(x.shape[1:])) < 512
    return layers.Softmax()(layers.Flatten()(x) if flat else x)


def branch_logistic(rng, layers, x):
    return layers.Activation("sigmoid")(_pre(layers, x, rng))


def branch_tanh(rng, layers, x):
    return layers.Activation("tanh")(_pre(layers, x, rng))


def branch_leaky_relu(rng, layers, x):
    return layers.LeakyReLU(float(rng.uniform(0.01, 0.9)))(_pre(layers, x, rng))


def branch_hard_swish(rng, layers, x):
    import tensorflow as tf

    return layers.Lambda(lambda t: t * tf.nn.relu6(t + 3.0) * (1.0 / 6.0))(_pre(layers, x, rng))


def branch_quantize(rng, layers, x):
    # LOGISTIC's output has a fixed scale (1/256); concatenated with a branch of another scale, the
    # converter requantises one side with an int8 -> int8 QUANTIZE.
    other = layers.Activation("tanh")(_pre(layers, x, rng)) if rng.integers(2) else _pre(layers, x, rng)
    return layers.Concatenate()([layers.Activation("sigmoid")(_pre(layers, x, rng)), other])


def _standalone(rng, layers, x, activation):
    # A concatenation in front keeps the converter from fusing the activation into a convolution.
    return activation(layers.Concatenate()([_pre(layers, x, rng), _pre(layers, x, rng)]))


def branch_relu(rng, layers, x):
    return _standalone(rng, layers, x, layers.ReLU())


def branch_relu6(rng, layers, x):
    return _standalone(rng, layers, x, layers.ReLU(6.0))


def branch_mean(rng, layers, x):
    return layers.GlobalAveragePooling2D(keepdims=bool(rng.integers(2)))(_pre(layers, x, rng))


def branch_concatenation(rng, layers, x):
    return layers.Concatenate()([_pre(layers, x, rng) for _ in range(int(rng.integers(2, 4)))])


def branch_pad(rng, layers, x):
    pads = tuple(tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in range(2))
    return layers.ZeroPadding2D(pads)(_pre(layers, x, rng))


def branch_reshape(rng, layers, x):
    return layers.Dense(int(rng.integers(1, 9)))(layers.Flatten()(_pre(layers, x, rng)))


def branch_expand_dims(rng, layers, x):
    import tensorflow as tf

    return layers.Lambda(lambda t: tf.expand_dims(t, 1))(layers.Flatten()(_pre(layers, x, rng)))


def branch_strided_slice(rng, layers, x):
    x = _pre(layers, x, rng)
    slices = [slice(None)]
    for size in x.shape[1:]:
        low = int(rng.integers(0, size))
        high = int(rng.integers(low + 1, size + 1))
        step = int(rng.choice([1, 1, 2, 3]))

        def signed(i):  # the same position, written from the end half of the time
            return i - size if rng.integers(2) and i < size else i

        if rng.integers(4) == 0:  # backwards
            slices.append(slice(signed(high - 1), signed(low - 1) if low > 0 else None, -step))
        else:
            slices.append(slice(signed(low), signed(high) if high < size else None, step))
    if rng.integers(3) == 0:
        slices[int(rng.integers(1, 4))] = 0  # shrink an axis
    chosen = tuple(slices)
    return layers.Lambda(lambda t: t[chosen])(x)


def branch_squeeze(rng, layers, x):
    import tensorflow as tf

    x = layers.GlobalAveragePooling2D(keepdims=True)(_pre(layers, x, rng))
    return layers.Lambda(lambda t: tf.squeeze(t, axis=[1, 2]))(x)


def branch_chain(rng, layers, x):
    """Several random operators in a row, ending in a softmax."""
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
    return layers.Softmax()(layers.Dense(int(rng.integers(2, 10)))(layers.GlobalAveragePooling2D()(x)))


BRANCHES = {
    "CONV_2D": branch_conv, "DEPTHWISE_CONV_2D": branch_depthwise, "TRANSPOSE_CONV": branch_transpose_conv, "FULLY_CONNECTED": branch_fully_connected,
    "MAX_POOL_2D": branch_max_pool, "AVERAGE_POOL_2D": branch_average_pool, "ADD": branch_add,
    "SUB": branch_sub, "MUL": branch_mul, "SOFTMAX": branch_softmax, "LOGISTIC": branch_logistic,
    "TANH": branch_tanh, "RELU": branch_relu, "RELU6": branch_relu6, "LEAKY_RELU": branch_leaky_relu,
    "HARD_SWISH": branch_hard_swish, "MEAN": branch_mean, "CONCATENATION": branch_concatenation,
    "PAD": branch_pad, "STRIDED_SLICE": branch_strided_slice, "RESHAPE": branch_reshape, "EXPAND_DIMS": branch_expand_dims, "SQUEEZE": branch_squeeze,
    "QUANTIZE": branch_quantize,
    "CHAIN": branch_chain,
}
BUILDERS = BRANCHES
DEFAULT_OPS = [op for op in BRANCHES if op != "SQUEEZE"]


def build_model(op, rng, branches):
    """A model of ``branches`` independent random instances of ``op`` on one input, flattened and joined."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input((int(rng.integers(3, 13)), int(rng.integers(3, 13)), int(rng.integers(1, 6))))
    # "MIXED": one instance of every operator side by side (the tests' quick seeded subset).
    kinds = [o for o in DEFAULT_OPS if o != "CHAIN"] if op == "MIXED" else [op] * branches
    outputs = [layers.Flatten()(BRANCHES[kind](rng, layers, inputs)) for kind in kinds]
    while len(outputs) > 1:
        # TFLite Micro's CONCATENATION takes at most 10 inputs: join in groups of up to 8.
        outputs = [g[0] if len(g) == 1 else layers.Concatenate()(g) for g in
                   (outputs[i:i + 8] for i in range(0, len(outputs), 8))]
    return tf_keras.Model(inputs, outputs[0])


def make_case(op, seed, branches=1, per_channel=None):
    """``(tflite_bytes, int8 inputs)`` of one seeded random model of ``branches`` instances of ``op``;
    weights per channel, per tensor, or (None) one or the other at random."""
    import tf_keras

    import tfkd
    from tfkd.model import quantize, read_model

    rng = np.random.default_rng(seed)
    tf_keras.utils.set_random_seed(seed)
    model = build_model(op, rng, branches)
    spread = float(10 ** rng.uniform(-1, 1))
    offset = float(rng.uniform(-0.5, 0.5)) * spread
    shape = model.input_shape[1:]
    representative = (rng.uniform(-spread, spread, size=(32, *shape)) + offset).astype(np.float32)
    size = int(np.prod(shape))
    noise = rng.integers(-128, 128, size=(INPUTS_PER_CASE // 2, size)).astype(np.int8)
    in_range_float = rng.uniform(-spread, spread, size=(INPUTS_PER_CASE // 2, size)) + offset
    # One model in four has per-tensor weights (drawn last, so the other draws of a seed are unchanged).
    drawn = bool(rng.integers(4))
    per_channel = drawn if per_channel is None else per_channel
    # Keras' dilated convolutions stay the converter's sandwiches, so that codegen's folding of them is fuzzed.
    tflite_bytes = tfkd.export.to_tflite(model, representative, io="int8", per_channel=per_channel,
                                         fold_dilations=False)
    scale, zero_point = read_model(tflite_bytes).inputs[0].quantization
    in_range = quantize(in_range_float, scale, zero_point)
    return tflite_bytes, np.concatenate([noise, in_range])


def has_per_tensor_weights(tflite_bytes):
    """True when the model's weight tensors (of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and
    FULLY_CONNECTED) each have one scale."""
    from tfkd.model import read_model

    model = read_model(tflite_bytes)
    weighted = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")
    scales = [len(model.tensors[op.inputs[1]].scales) for op in model.operators if op.kind in weighted]
    return bool(scales) and max(scales) == 1


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
    from tfkd.codegen.footprint import reference_model
    from tfkd.model import TflmRunner

    results, compiled = [], []
    with tempfile.TemporaryDirectory(prefix="tfkd-fuzz-") as directory:
        for k, (label, tflite_bytes, inputs) in enumerate(cases):
            name = f"m{k}"
            try:
                # "all" streams every chain that shrinks the arena (depthwise ones too), so that the fuzz
                # reaches tfkd_stream.c wherever a model allows it.
                sources, summary = compile_model(tflite_bytes, name, stream="all")
            except ValueError as e:
                results.append({"case": label, "error": str(e)})
                continue
            for filename, text in sources.items():
                with open(os.path.join(directory, filename), "w", encoding="utf-8") as f:
                    f.write(text)
            compiled.append((label, name, tflite_bytes, inputs, summary))
        if not compiled:
            return results
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
            # Keras' dilated convolutions run folded: TFLite Micro miscomputes them as converted (tfkd.codegen.dilation).
            reference, reference_bytes = reference_model(tflite_bytes)
            theirs = TflmRunner(reference_bytes).run(inputs)
            results.append({"case": label, "ops": summary["ops"], "streams": len(summary["streamed"]),
                            "reference": reference, "mismatched_bytes": int((ours != theirs).sum())})
    return results


def fuzz(ops, cases, seed=0, branches=BRANCHES_PER_MODEL, log=print, progress=None, skip=0):
    """Runs ``cases`` seeded random instances per operator, ``branches`` of them per model; returns
    {op: {"cases", "models", "with_op", "per_tensor", "streamed", "folded", "mismatches", "errors", "examples"}}
    (counts of models but ``cases``; "streamed": models with a chain run row by row; "folded": models whose
    reference ran with Keras' dilated convolutions folded, as TFLite Micro miscomputes them as converted)."""
    models = -(-cases // branches)
    # Interleaved, so that an interrupted run has covered every operator evenly.
    pending = [(op, seed * 1_000_003 + i * 7919 + sum(map(ord, op))) for i in range(models) for op in ops][skip:]
    summary = {op: {"cases": 0, "models": 0, "with_op": 0, "per_tensor": 0, "streamed": 0, "folded": 0,
                    "mismatches": 0, "errors": 0, "examples": []} for op in ops}
    for start in range(0, len(pending), BATCH):
        batch, per_tensor = [], {}
        for op, case_seed in pending[start:start + BATCH]:
            tflite_bytes, inputs = make_case(op, case_seed, branches)
            batch.append(((op, case_seed), tflite_bytes, inputs))
            per_tensor[(op, case_seed)] = has_per_tensor_weights(tflite_bytes)
        for result in check_batch(batch):
            op, case_seed = result["case"]
            entry = summary[op]
            entry["per_tensor"] += int(per_tensor[(op, case_seed)])
            entry["streamed"] += int(result.get("streams", 0) > 0)
            entry["folded"] += int(result.get("reference", "TFLite Micro") != "TFLite Micro")
            entry["cases"] += branches
            entry["models"] += 1
            entry["with_op"] += int(op in result.get("ops", ()) or op == "CHAIN" and "error" not in result)
            bad = "error" in result or result["mismatched_bytes"]
            if "error" in result:
                entry["errors"] += 1
            elif result["mismatched_bytes"]:
                entry["mismatches"] += 1
            if bad and len(entry["examples"]) < 3:
                entry["examples"].append({"seed": case_seed, **{k: v for k, v in result.items() if k != "case"}})
        log(f"{min(start + BATCH, len(pending))}/{len(pending)} models")
        if progress:
            progress(summary)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="random instances per operator (default 200)")
    parser.add_argument("--branches", type=int, default=BRANCHES_PER_MODEL,
                        help=f"instances per model (default {BRANCHES_PER_MODEL})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ops", default=",".join(DEFAULT_OPS), help="comma-separated operators (default: all "
                        "but SQUEEZE, which the converter turns into RESHAPE)")
    parser.add_argument("--json", help="also write the summary as JSON here (after every batch)")
    parser.add_argument("--skip", type=int, default=0,
                        help="skip the first N models (resume an interrupted run; add the two summaries)")
    args = parser.parse_args(argv)
    ops = [op.strip().upper() for op in args.ops.split(",") if op.strip()]
    unknown = [op for op in ops if op not in BUILDERS]
    if unknown:
        parser.error(f"unknown operators {unknown}; expected some of {', '.join(BUILDERS)}")
    from tfkd import cli

    cli._import_tensorflow_quietly()
    began = time.time()
    def save(summary):
        if args.json:
            with open(args.json + ".tmp", "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
            os.replace(args.json + ".tmp", args.json)

    summary = fuzz(ops, args.cases, args.seed, args.branches, log=lambda line: print(line, file=sys.stderr, flush=True),
                   progress=save, skip=args.skip)
    print(f"{'operator':<20} {'instances':>9} {'models':>6} {'with op':>7} {'per-tensor':>10} {'streamed':>8} "
          f"{'folded':>6} {'mismatches':>10} {'errors':>6}")
    for op, entry in summary.items():
        print(f"{op:<20} {entry['cases']:>9} {entry['models']:>6} {entry['with_op']:>7} {entry['per_tensor']:>10} "
              f"{entry['streamed']:>8} {entry['folded']:>6} {entry['mismatches']:>10} {entry['errors']:>6}")
        for example in entry["examples"]:
            print(f"    seed {example['seed']}: {example}")
    print(f"{sum(e['cases'] for e in summary.values())} instances in {time.time() - began:.0f} s")
    save(summary)
    return 1 if any(e["mismatches"] or e["errors"] for e in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
