"""Weight storage of the generated C (4-bit tables, sparse bitmaps) on pruned and clustered models.

    python tools/bench_codegen_weights.py                       # DS-CNN KWS and ResNet-8
    python tools/bench_codegen_weights.py --models ds_cnn_kws --samples 4

Each model of tools/tflm_models.py (published input sizes, seeded weights) is fine-tuned for one epoch on
seeded random data, then compressed by the real TF-MOT pipelines through tfkd.compress: 75% magnitude
pruning with a constant schedule, 16-cluster weight clustering (of the layers TF-MOT clusters; and, for
models with DepthwiseConv2D layers, of those too: cluster(..., depthwise=True)), and pruning then
sparsity-preserving clustering. Each variant is converted with tfkd.export.to_tflite(io="int8"),
per-channel (TFLite's default) and, for the clustered ones, per-tensor (per_channel=False) too. For
each, tfkd.codegen.measure on QEMU Cortex-M4 builds the generated C with weights="auto" (compressed
where smaller) and weights="dense"; the table gives the filter bytes (dense vs stored, with tables,
bitmaps and decoder parameters), the formats, flash, RAM and instructions per inference of both, and
whether the outputs equal TFLite Micro's bit for bit.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

import tfkd  # noqa: E402
from tfkd.codegen import measure  # noqa: E402
from tflm_models import DEPLOYED_MODELS, random_int8_inputs  # noqa: E402

SEED = 0
FINE_TUNE_SAMPLES = 256
SHORT = {"dense": "dense", "table4": "4-bit", "sparse": "sparse", "sparse+table4": "sparse+4-bit"}


def variants(builder):
    """``{name: keras model}``: the seeded model briefly trained, pruned, clustered, pruned then clustered."""
    tf_keras.utils.set_random_seed(SEED)
    model = builder()
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1.0, 1.0, size=(FINE_TUNE_SAMPLES, *model.input_shape[1:])).astype(np.float32)
    y = rng.integers(0, model.output_shape[-1], size=FINE_TUNE_SAMPLES)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    pruned = tfkd.compress.prune(model, (x, y), target_sparsity=0.75, schedule="constant", epochs=1, verbose=0)
    clustered = tfkd.compress.cluster(model, (x, y), n_clusters=16, epochs=1, verbose=0)
    both = tfkd.compress.cluster(pruned, (x, y), n_clusters=16, epochs=1, verbose=0)
    found = {"dense": model, "75% pruned": pruned, "16 clusters": clustered}
    if any(isinstance(layer, tf_keras.layers.DepthwiseConv2D) for layer in model.layers):
        found["16 clusters, depthwise too"] = tfkd.compress.cluster(model, (x, y), n_clusters=16, epochs=1,
                                                                    verbose=0, depthwise=True)
    found["pruned + 16 clusters"] = both
    return found, x


def _formats(weights):
    return ", ".join(f"{count} {SHORT[fmt]}" for fmt, count in weights["formats"].items() if count)


def bench(name, samples):
    models, x = variants(DEPLOYED_MODELS[name])
    rows = []
    for variant, model in models.items():
        for per_channel in (True, False):
            if not per_channel and "clusters" not in variant:
                continue
            tflite_bytes = tfkd.export.to_tflite(model, x[:64], io="int8", per_channel=per_channel)
            inputs = random_int8_inputs(tflite_bytes, samples)
            auto = measure(tflite_bytes, samples=inputs, weights="auto")
            dense = measure(tflite_bytes, samples=inputs, weights="dense", compare_tflm=False)
            w = auto["weights"]
            rows.append({
                "model": name, "variant": variant, "quantization": "per-channel" if per_channel else "per-tensor",
                "dense_bytes": w["dense_bytes"], "stored_bytes": w["stored_bytes"], "ratio": w["ratio"],
                "formats": _formats(w), "flash": (dense["flash_bytes"], auto["flash_bytes"]),
                "ram": (dense["ram_bytes"], auto["ram_bytes"]),
                "instructions": (dense["instructions_per_inference"], auto["instructions_per_inference"]),
                "exact": auto["matches_reference"] and bool(np.array_equal(auto["outputs"], dense["outputs"])),
                "samples": samples,
            })
            print(_row(rows[-1]), flush=True)
    return rows


HEADER = ("| model | variant | weights quantised | filter bytes dense | stored | ratio | formats | flash dense -> auto "
          "| RAM dense -> auto | instructions/inference dense -> auto | bit-exact with TFLM (QEMU) |\n"
          "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")


def _row(r):
    arrow = lambda pair: f"{pair[0]} -> {pair[1]}"  # noqa: E731
    return (f"| {r['model']} | {r['variant']} | {r['quantization']} | {r['dense_bytes']} | {r['stored_bytes']} | "
            f"{r['ratio']:.3f}x | {r['formats']} | {arrow(r['flash'])} | {arrow(r['ram'])} | "
            f"{arrow(r['instructions'])} | {'yes' if r['exact'] else 'NO'} ({r['samples']} inputs) |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ds_cnn_kws", "resnet8"], choices=sorted(DEPLOYED_MODELS))
    parser.add_argument("--samples", type=int, default=4, help="random int8 inputs per model on QEMU")
    args = parser.parse_args()
    start = time.time()
    print(HEADER, flush=True)
    rows = []
    for name in args.models:
        rows += bench(name, args.samples)
    print(f"\n{len(rows)} rows in {time.time() - start:.0f} s; bit-exact: {sum(r['exact'] for r in rows)}/{len(rows)}")
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
