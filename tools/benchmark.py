"""tfkd benchmarks: distillation quality, the compression ladder and speed, in one run.

1. Quality: test accuracy (mean ± std over ``--seeds``) of the teacher, the student from
   scratch and each distillation method, with all labels and with ``--labels_per_class``
   labels, and the gap each method closes.
2. Compression ladder of the best method's seed-0 student: fp32 -> pruned -> clustered ->
   QAT -> int8 on LiteRT and TFLite Micro: accuracy, bytes, ratio, arena, MACs.
3. Speed: training steps/s of plain fit, a Keras-docs style distiller (the baseline), tfkd
   online and cached; per-sample inference latency of the float Keras student and its
   int8 model on LiteRT and TFLite Micro.

Writes ``OUT/benchmark.md`` and ``OUT/benchmark.json`` and prints the markdown.

Usage: python tools/benchmark.py --out DIR [--quick] [--seeds 3] [--labels_per_class 15] [--data_dir MNIST_DIR]
"""

import json
import os
import shlex
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from benchmarks import quality, report, settings, training_speed  # noqa: E402

import tfkd  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Directory for benchmark.md and benchmark.json (created if missing).")
flags.DEFINE_bool("quick", False, "Tiny settings (a data slice, 1-2 epochs): checks every row is produced, in minutes.")
flags.DEFINE_integer("seeds", 3, "Seeds per method in the quality section.", lower_bound=1)
flags.DEFINE_integer("labels_per_class", 15,
                     "Labelled samples per class of the few-labels regime; 0 runs the all-labels regime only.",
                     lower_bound=0)
flags.DEFINE_string("data_dir", None, "Folder with the MNIST IDX files; without it, the embedded digits.")
flags.DEFINE_enum("only", None, ["quality"], "Run this section alone (the others need the quality section first).")
flags.mark_flag_as_required("out")


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _load(run_settings):
    name = "mnist" if FLAGS.data_dir else "digits"
    (x, y), (x_test, y_test), class_names = tfkd.data.load(name, data_dir=FLAGS.data_dir)
    x, y = x[:run_settings.train_samples], y[:run_settings.train_samples]
    x_test, y_test = x_test[:run_settings.test_samples], y_test[:run_settings.test_samples]
    return name, x, y, x_test, y_test, len(class_names)


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} in the results is not JSON-serialisable")


def _check_out(out):
    if os.path.exists(out) and not os.path.isdir(out):
        raise app.UsageError(f"--out {out!r} is a file; expected a directory (created if missing)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; every option is a --flag")
    _check_out(FLAGS.out)
    start = time.perf_counter()
    run_settings = settings.QUICK if FLAGS.quick else settings.FULL
    recipe = run_settings.recipe
    dataset, x, y, x_test, y_test, num_classes = _load(run_settings)
    results = {"command": shlex.join(["python", "tools/benchmark.py"] + sys.argv[1:]),
               "machine": report.machine(), "timings_s": {}}

    def timed(section, work):
        section_start = time.perf_counter()
        _log(f"== {section}")
        value = work()
        results["timings_s"][section] = round(time.perf_counter() - section_start, 1)
        return value

    datasets = [quality.Dataset(dataset, x, y, x_test, y_test, num_classes, recipe),
                quality.Dataset("iris", *_iris(), run_settings.tabular_recipe)]
    found = timed("quality", lambda: quality.run(datasets, FLAGS.seeds, FLAGS.labels_per_class, _log))
    results["quality"] = found.regimes
    # The tfkd recipe's seed-0 student (images, all labels) goes down the ladder.
    best = quality.RECIPE
    results["best_method"] = best
    teacher, student = found.teachers[0], found.students[best]
    if FLAGS.only == "quality":
        _finish(results, run_settings, dataset, x, x_test, teacher, student, start)
        return
    from benchmarks import ladder, latency  # the TFLite side: not needed by --only quality

    rows, int8 = timed("ladder", lambda: ladder.run(teacher, student, x, y, x_test, y_test, run_settings, log=_log))
    results["ladder"] = rows

    rates = timed("training speed", lambda: training_speed.measure(
        teacher, x, y, num_classes, recipe.batch_size, run_settings.speed_epochs, run_settings.speed_repeats))
    results["training_speed"] = {v: {"steps_per_second": r, "vs_baseline": r / rates["baseline"]}
                                 for v, r in rates.items()}
    seconds = timed("latency", lambda: latency.measure(student, int8, x_test[:run_settings.latency_samples],
                                                       rows["int8 TFLite Micro"]["arena_bytes_with_margin"]))
    eager = seconds["float Keras, eager call"]
    results["latency"] = {name: {"seconds": s, "speedup_vs_keras_eager": eager / s} for name, s in seconds.items()}

    _finish(results, run_settings, dataset, x, x_test, teacher, student, start)


def _iris():
    (x, y), (x_test, y_test), class_names = tfkd.data.load("iris")
    return x, y, x_test, y_test, len(class_names)


def _finish(results, run_settings, dataset, x, x_test, teacher, student, start):
    """Settings, total time; writes benchmark.json and benchmark.md and prints the markdown."""
    recipe = run_settings.recipe
    results["settings"] = {
        "quick": FLAGS.quick, "seeds": FLAGS.seeds, "labels_per_class": FLAGS.labels_per_class,
        **dataclasses.asdict(recipe),
        **{k: v for k, v in dataclasses.asdict(run_settings).items() if k not in ("recipe", "tabular_recipe")},
        "tabular_recipe": dataclasses.asdict(run_settings.tabular_recipe),
        "only": FLAGS.only,
        # after the settings: the samples actually used, not the slice limits (None: whole split)
        "dataset": dataset, "train_samples": int(len(x)), "test_samples": int(len(x_test)),
        "teacher_params": teacher.count_params(), "student_params": student.count_params(),
    }
    results["total_seconds"] = time.perf_counter() - start
    text = report.markdown(results)
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "benchmark.json"), "w") as f:
        json.dump(results, f, indent=2, default=_json_number)
    with open(os.path.join(FLAGS.out, "benchmark.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    app.run(main)
