"""Scale benchmarks: peak memory of teacher-output caches as data grows, and samples/s over workers.

``memory``: distils on the digits set grown 10x and 100x by augmentation (every copy
shifted and re-contrasted by a stateless seed, generated lazily by tf.data), with the
teacher outputs cached in memory (``cache_teacher=True``) and on disk
(``cache_teacher=DIR``). Each run is a fresh process; it reports the peak resident
memory (VmHWM) and the resident memory just before ``fit`` (TensorFlow, models and
the raw digits). Goal: peak at 100x < 1.2x peak at 10x with the disk cache.

``speed``: samples/s of ``tools/distil_multiworker.py`` on 1 and 2 local workers
(``MultiWorkerMirroredStrategy`` on loopback) for the textbook Keras-documentation
distiller, the tfkd Distiller running the teacher every step, and with teacher
outputs cached in memory and on disk; steady state (median epoch after the first).

Usage: python tools/bench_scale.py [--part memory|speed|all] [--scales 10,100] [--epochs 4] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, ROOT)


def child_env(**extra):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    return env


# -- memory -------------------------------------------------------------------------


def rss_child(scale, cache, batch_size, epochs):
    """Runs in a fresh process: one distillation over ``scale`` augmented copies of digits."""
    import tensorflow as tf
    import tf_keras

    import tfkd

    (x, y), _, _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=8)
    indices = tf.range(len(x), dtype=tf.int64)

    def copy_of_digits(copy):
        def augment(image, label, index):
            seed = tf.stack([copy, index])
            padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]])
            shifted = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
            return tf.image.stateless_random_contrast(shifted, 0.7, 1.3, seed=seed + 1), label

        return tf.data.Dataset.from_tensor_slices((x, y, indices)).map(augment)

    data = tf.data.Dataset.range(scale).flat_map(copy_of_digits).batch(batch_size).prefetch(2)
    workdir = tempfile.mkdtemp(prefix="tfkd-bench-cache-")
    option = True if cache == "memory" else (os.path.join(workdir, "cache") if cache == "disk" else False)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=teacher,
                               cache_teacher=option)
    distiller.compile(tf_keras.optimizers.Adam(1e-2),
                      tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    distiller.fit(data, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    disk_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(workdir) for f in fs)
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
    return {"scale": scale, "samples": scale * len(x), "cache": cache, "rss_before_fit_mib": before / 1024,
            "peak_rss_mib": _status_kib("VmHWM") / 1024, "seconds": seconds, "cache_bytes_on_disk": disk_bytes}


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_part(scales, caches, batch_size, epochs):
    rows = []
    for cache in caches:
        for scale in scales:
            command = [sys.executable, os.path.abspath(__file__), "--rss_child", str(scale), "--cache", cache,
                       "--batch_size", str(batch_size), "--epochs", str(epochs)]
            output = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=3600)
            if output.returncode:
                raise RuntimeError(f"{command} failed:\n{output.stderr[-3000:]}")
            rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print()
    print("| cache | data | samples | RSS before fit (MiB) | peak RSS (MiB) | cache on disk (MiB) | seconds |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['cache']} | {r['scale']}x digits | {r['samples']} | {r['rss_before_fit_mib']:.0f} | "
              f"{r['peak_rss_mib']:.0f} | {r['cache_bytes_on_disk'] / 2**20:.1f} | {r['seconds']:.0f} |")
    print()
    for cache in caches:
        peaks = {r["scale"]: r for r in rows if r["cache"] == cache}
        if len(peaks) >= 2:
            low, high = min(peaks), max(peaks)
            growth = peaks[high]["peak_rss_mib"] / peaks[low]["peak_rss_mib"]
            above = ((peaks[high]["peak_rss_mib"] - peaks[high]["rss_before_fit_mib"])
                     / max(1e-9, peaks[low]["peak_rss_mib"] - peaks[low]["rss_before_fit_mib"]))
            print(f"{cache}: peak RSS {high}x / {low}x = {growth:.2f} (goal for disk < 1.2); "
                  f"growth during fit {above:.2f}x")
    return rows


# -- speed --------------------------------------------------------------------------


def speed_part(workers_list, epochs, batch_size, repeat_data):
    from tfkd import distribute

    with tempfile.TemporaryDirectory(prefix="tfkd-bench-scale-") as tmp:
        teacher_path = _save_teacher(tmp)
        variants = [("textbook", ["--textbook"]), ("tfkd online", []), ("tfkd memory cache", ["--cache", "memory"]),
                    ("tfkd disk cache", ["--cache", "disk"])]
        rows = []
        for workers in workers_list:
            for name, flags in variants:
                out = os.path.join(tmp, f"{workers}-{name.replace(' ', '_')}")
                argv = [sys.executable, os.path.join(TOOLS, "distil_multiworker.py"), "--teachers", teacher_path,
                        "--out", out, "--epochs", str(epochs), "--batch_size", str(batch_size),
                        "--repeat_data", str(repeat_data), *flags]
                env = child_env(TFKD_CACHE_DIR=os.path.join(tmp, "cache"))
                if workers == 1:
                    subprocess.run(argv, env=env, check=True, timeout=1800, capture_output=True)
                else:
                    with distribute.local_workers(argv, workers, env=env, log_dir=os.path.join(out, "logs")) as ps:
                        codes = distribute.wait_all(ps, 1800)
                    if codes != [0] * workers:
                        # The Keras-documentation distiller reduces its losses with AUTO, which
                        # tf.distribute refuses outside compile(): it cannot run on several workers.
                        print(f"{name} on {workers} workers failed ({codes}): {_last_error(out)}", flush=True)
                        rows.append({"workers": workers, "variant": name, "samples_per_s": None})
                        continue
                with open(os.path.join(out, "result-0.json")) as f:
                    result = json.load(f)
                steady = sorted(result["epoch_seconds"][1:])[len(result["epoch_seconds"][1:]) // 2]
                rows.append({"workers": workers, "variant": name, "samples_per_s": result["samples"] / steady,
                             "first_epoch_s": result["epoch_seconds"][0], "accuracy": result["accuracy"]})
                print(json.dumps(rows[-1]), flush=True)
    print()
    print("| workers | variant | samples/s (steady) | vs textbook on 1 worker | first epoch (s) | accuracy |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    textbook = next(t for t in rows if t["workers"] == 1 and t["variant"] == "textbook")["samples_per_s"]
    for r in rows:
        if r["samples_per_s"] is None:
            print(f"| {r['workers']} | {r['variant']} | does not run | | | |")
            continue
        print(f"| {r['workers']} | {r['variant']} | {r['samples_per_s']:.0f} | {r['samples_per_s'] / textbook:.2f} | "
              f"{r['first_epoch_s']:.1f} | {r['accuracy']:.3f} |")
    return rows


def _last_error(out):
    path = os.path.join(out, "logs", "worker-0.log")
    with open(path, errors="replace") as f:
        errors = [line.strip() for line in f if "Error:" in line]
    return errors[-1][:200] if errors else "see its log"


def _save_teacher(directory):
    import tf_keras

    import tfkd

    (x, y), _, _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=8)
    teacher.compile(tf_keras.optimizers.Adam(3e-3), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=2, batch_size=64, verbose=0)
    path = os.path.join(directory, "teacher.keras")
    teacher.save(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["memory", "speed", "all"])
    parser.add_argument("--scales", default="10,100", help="dataset sizes, in copies of digits")
    parser.add_argument("--caches", default="memory,disk", help="memory, disk, none")
    parser.add_argument("--epochs", type=int, default=None, help="default: 2 (memory), 4 (speed)")
    parser.add_argument("--batch_size", type=int, default=None, help="default: 256 (memory), 64 (speed)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeat_data", type=int, default=10, help="speed: copies of digits per epoch")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check that it runs")
    parser.add_argument("--rss_child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        print(json.dumps(rss_child(args.rss_child, args.cache, args.batch_size, args.epochs)))
        return 0
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    if args.part in ("memory", "all"):
        scales = [1, 3] if args.quick else [int(s) for s in args.scales.split(",")]
        memory_part(scales, args.caches.split(","), args.batch_size or 256, args.epochs or 2)
    if args.part in ("speed", "all"):
        workers = [int(w) for w in args.workers.split(",")]
        speed_part(workers, 2 if args.quick else args.epochs or 4, args.batch_size or 64,
                   1 if args.quick else args.repeat_data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
