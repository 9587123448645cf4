"""Training steps per second of plain training, a Keras-documentation distiller and tfkd's Distiller.

Variants, on the same data, student and batch size:
  plain      the student alone with ``fit`` (the floor: no teacher at all)
  baseline   a distiller written as the Keras documentation's example does it
             (re-implemented here; the teacher runs every step)
  online     ``tfkd.Distiller`` with the teacher run every step
  cached     ``tfkd.Distiller(cache_teacher=True)``: teacher outputs computed once

Each variant trains one untimed warm-up epoch (tracing, and filling the cache for
``cached``), then ``epochs`` timed epochs, ``repeats`` times; the median rate is reported.
Repeats are interleaved, so each round times every variant under about the same load:
``paired_ratio`` compares two variants round by round, which a shared machine disturbs
less than a ratio of medians.
"""

import gc
import time

import numpy as np
import tensorflow as tf
import tf_keras

import tfkd

VARIANTS = ("plain", "baseline", "online", "cached")


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


def build(variant, teacher, x, num_classes):
    """A freshly initialised, compiled model of ``variant`` training the reference student for ``x``."""
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} is invalid; expected one of {VARIANTS}")
    tf_keras.utils.set_random_seed(0)
    student = tfkd.models.for_data(x, num_classes, "student")
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


def _timed_rate(variant, teacher, x, y, num_classes, batch_size, epochs, clock=time.perf_counter):
    """Steps per second of one fresh ``variant`` over ``epochs``, after a warm-up (tracing) epoch.

    ``clock`` is wall time by default; ``time.process_time`` counts this process's CPU
    time, which other processes on a shared machine disturb less.
    """
    model = build(variant, teacher, x, num_classes)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    gc.collect()  # the models of earlier rounds are garbage: collect them before, not during, the timing
    start = clock()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    return int(np.ceil(len(x) / batch_size)) * epochs / (clock() - start)


def measure_rounds(teacher, x, y, num_classes, batch_size=32, epochs=5, repeats=3, variants=VARIANTS,
                   clock=time.perf_counter):
    """Steps per second of every variant in every round: ``{variant: [rate per round]}``.

    Repeats are interleaved (every variant once per round, in alternating order) so that
    load on a shared machine drifting over the run weighs on all variants alike.
    """
    rates = {variant: [] for variant in variants}
    for round_index in range(repeats):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for variant in order:
            rates[variant].append(_timed_rate(variant, teacher, x, y, num_classes, batch_size, epochs, clock))
    return rates


def measure(teacher, x, y, num_classes, batch_size=32, epochs=5, repeats=3):
    """Median steps per second of every variant, in ``VARIANTS`` order (rounds interleaved)."""
    rates = measure_rounds(teacher, x, y, num_classes, batch_size, epochs, repeats)
    return {variant: float(np.median(r)) for variant, r in rates.items()}


def paired_ratio(rates, variant, reference):
    """Median over rounds of ``variant``'s time per step divided by ``reference``'s in the same round."""
    return float(np.median(np.array(rates[reference]) / np.array(rates[variant])))
