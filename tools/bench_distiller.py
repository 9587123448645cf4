"""Training speed of tfkd's Distiller against plain training and a Keras-documentation distiller.

Times training steps per second on the same data, student and batch size for:
  plain      the student alone with ``fit`` (the floor: no teacher at all)
  baseline   a distiller written as the Keras documentation's example does it
             (re-implemented here; the teacher runs every step)
  online     ``tfkd.Distiller`` with the teacher run every step
  cached     ``tfkd.Distiller(cache_teacher=True)``: teacher outputs computed once

Each variant trains one warm-up epoch (tracing), then ``--epochs`` timed epochs,
``--repeats`` times; the median is reported with ratios. Expected: online/baseline
<= 1.05 in time per step, cached/plain <= 1.3 when the teacher has ~10x the student's
parameters (``--teacher_width 8`` on digits).

Usage: python tools/bench_distiller.py [--epochs 5] [--repeats 3] [--teacher_width 8]
"""

import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from absl import app, flags  # noqa: E402

import tfkd  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 5, "Timed epochs per repeat.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Repeats per variant; the median is reported.", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size.", lower_bound=1)
flags.DEFINE_integer("teacher_width", 8, "Width of the reference teacher (8 gives ~10x the student's params).")


class KerasDocsDistiller(tf_keras.Model):
    """The baseline: distillation as the Keras documentation example writes it."""

    def __init__(self, student, teacher, alpha=0.1, temperature=4.0):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.alpha, self.temperature = alpha, temperature
        self.student_loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.distillation_loss_fn = tf_keras.losses.KLDivergence()

    def train_step(self, data):
        x, y = data
        teacher_predictions = self.teacher(x, training=False)
        with tf.GradientTape() as tape:
            student_predictions = self.student(x, training=True)
            student_loss = self.student_loss_fn(y, student_predictions)
            distillation_loss = self.distillation_loss_fn(
                tf.nn.softmax(teacher_predictions / self.temperature, axis=1),
                tf.nn.softmax(student_predictions / self.temperature, axis=1),
            ) * self.temperature**2
            loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(y, student_predictions)
        results = {m.name: m.result() for m in self.metrics}
        results.update(student_loss=student_loss, distillation_loss=distillation_loss)
        return results


def build(variant, teacher):
    tf_keras.utils.set_random_seed(0)
    student = tfkd.models.cnn_student((8, 8, 1), 10)
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if variant == "plain":
        model = student
        model.compile(tf_keras.optimizers.Adam(1e-2), loss, ["accuracy"])
    elif variant == "baseline":
        model = KerasDocsDistiller(student, teacher)
        model.compile(optimizer=tf_keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    else:
        model = tfkd.Distiller(student=student, teacher=teacher, cache_teacher=variant == "cached")
        model.compile(tf_keras.optimizers.Adam(1e-2), loss, ["accuracy"])
    return model


def steps_per_second(variant, teacher, x, y):
    """Median training steps per second over repeats, after a warm-up epoch."""
    rates = []
    steps = int(np.ceil(len(x) / FLAGS.batch_size)) * FLAGS.epochs
    for _ in range(FLAGS.repeats):
        model = build(variant, teacher)
        model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
        start = time.perf_counter()
        model.fit(x, y, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, verbose=0)
        rates.append(steps / (time.perf_counter() - start))
    return float(np.median(rates))


def main(argv):
    del argv
    (x, y), _, _ = tfkd.data.load("digits")
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=FLAGS.teacher_width)
    student_params = tfkd.models.cnn_student((8, 8, 1), 10).count_params()
    print(f"digits: {len(x)} training samples, batch {FLAGS.batch_size}; student {student_params} params, "
          f"teacher {teacher.count_params()} params ({teacher.count_params() / student_params:.1f}x); "
          f"{FLAGS.epochs} timed epochs, median of {FLAGS.repeats}; "
          f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores")
    rates = {v: steps_per_second(v, teacher, x, y) for v in ("plain", "baseline", "online", "cached")}
    print()
    print("| variant | steps/s | time per step vs baseline | time per step vs plain |")
    print("| --- | ---: | ---: | ---: |")
    for variant, rate in rates.items():
        print(f"| {variant} | {rate:.1f} | {rates['baseline'] / rate:.2f} | {rates['plain'] / rate:.2f} |")
    print()
    print(f"online / baseline time per step: {rates['baseline'] / rates['online']:.2f} (expected <= 1.05)")
    print(f"cached / plain time per step:    {rates['plain'] / rates['cached']:.2f} (expected <= 1.3)")


if __name__ == "__main__":
    app.run(main)
