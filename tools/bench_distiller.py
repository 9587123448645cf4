"""Training speed of tfkd's Distiller against plain training and a Keras-documentation distiller.

Times training steps per second of plain ``fit``, a Keras-documentation style
distiller (the baseline), tfkd online and tfkd cached on the same data, student and
batch size (see ``tools/benchmarks/training_speed.py``, shared with ``tools/benchmark.py``);
the median of ``--repeats`` interleaved rounds is reported with ratios, and the ratio of
online to baseline time per step paired round by round. Expected: online/baseline <= 1.00
in time per step (the Distiller without augmentation costs no more than the Keras
documentation's distiller), cached/plain <= 1.3 when the teacher has ~10x the student's
parameters (``--teacher_width 8`` on digits).

Usage: python tools/bench_distiller.py [--epochs 5] [--repeats 3] [--teacher_width 8]
       [--variants baseline,online] [--clock wall|cpu]
"""

import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from absl import app, flags  # noqa: E402
from benchmarks import training_speed  # noqa: E402

import tfkd  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 5, "Timed epochs per repeat.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Repeats per variant; the median is reported.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("teacher_width", 8, "Width of the reference teacher (8 gives ~10x the student's params).")
flags.DEFINE_enum("clock", "wall", ["wall", "cpu"],
                  "wall: elapsed time; cpu: this process's CPU time, less disturbed by other processes.")
flags.DEFINE_list("variants", list(training_speed.VARIANTS), "Variants to time; baseline is always included.")


def main(argv):
    del argv
    (x, y), _, _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=FLAGS.teacher_width)
    student_params = tfkd.models.cnn_student((8, 8, 1), 10).count_params()
    print(f"digits: {len(x)} training samples, batch {FLAGS.batch_size}; student {student_params} params, "
          f"teacher {teacher.count_params()} params ({teacher.count_params() / student_params:.1f}x); "
          f"{FLAGS.epochs} timed epochs, median of {FLAGS.repeats}, {FLAGS.clock} clock; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    variants = [v for v in training_speed.VARIANTS if v in FLAGS.variants or v == "baseline"]
    rounds = training_speed.measure_rounds(teacher, x, y, 10, FLAGS.batch_size, FLAGS.epochs, FLAGS.repeats,
                                           variants, time.process_time if FLAGS.clock == "cpu" else time.perf_counter)
    rates = {variant: float(np.median(r)) for variant, r in rounds.items()}
    print()
    print("| variant | steps/s | time per step vs baseline | time per step vs baseline, paired by round |")
    print("| --- | ---: | ---: | ---: |")
    for variant, rate in rates.items():
        paired = training_speed.paired_ratio(rounds, variant, "baseline")
        print(f"| {variant} | {rate:.1f} | {rates['baseline'] / rate:.2f} | {paired:.3f} |")
    print()
    if "online" in rates:
        print(f"online / baseline time per step: {rates['baseline'] / rates['online']:.3f} (medians), "
              f"{training_speed.paired_ratio(rounds, 'online', 'baseline'):.3f} (paired by round; expected <= 1.00)")
        print("online / baseline per round: " + ", ".join(
            f"{b / o:.3f}" for b, o in zip(rounds["baseline"], rounds["online"])))
    if "cached" in rates and "plain" in rates:
        print(f"cached / plain time per step:    {rates['plain'] / rates['cached']:.2f} (expected <= 1.3)")


if __name__ == "__main__":
    app.run(main)
