"""Regression distillation: match the teacher's real-valued outputs."""

import tensorflow as tf

from tfkd.losses.base import LogitTerm, mean_over_non_batch_axes

_NORMS = ("l2", "l1")


class OutputMSE(LogitTerm):
    """Mean squared (``norm="l2"``) or absolute (``norm="l1"``) error to the teacher's outputs.

    For regressors and any real-valued output (e.g. a sine regressor); the
    temperature plays no part. With several teachers, their outputs are averaged
    (weighted) first.
    """

    def __init__(self, norm="l2", name=None, **kwargs):
        if norm not in _NORMS:
            raise ValueError(f"norm={norm!r} is invalid; expected 'l2' or 'l1'")
        super().__init__(name=name or ("output_mse" if norm == "l2" else "output_l1"), **kwargs)
        self.norm = norm

    def per_sample(self, y_true, teacher_outputs, student_outputs, temperature, teacher_weights):
        target = tf.add_n([w * tf.cast(t, tf.float32) for w, t in zip(teacher_weights, teacher_outputs)])
        difference = tf.cast(student_outputs, tf.float32) - target
        errors = tf.square(difference) if self.norm == "l2" else tf.abs(difference)
        return mean_over_non_batch_axes(errors)

    def get_config(self):
        return {**super().get_config(), "norm": self.norm}


class OutputL1(OutputMSE):
    """``OutputMSE(norm="l1")``: mean absolute error to the teacher's outputs."""

    def __init__(self, name="output_l1", **kwargs):
        kwargs.pop("norm", None)
        super().__init__(norm="l1", name=name, **kwargs)
