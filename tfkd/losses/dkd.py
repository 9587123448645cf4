"""Decoupled knowledge distillation (Zhao et al., CVPR 2022)."""

import numpy as np
import tensorflow as tf

from tfkd.losses.base import ClassificationTerm, ensemble_probabilities

_EPSILON = 1e-12


def _check_weight(value, argument):
    if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{argument}={value!r} is invalid; expected a finite number >= 0")
    return float(value)


class DKD(ClassificationTerm):
    """``target_weight * TCKD + non_target_weight * NCKD``, times T^2, per sample.

    TCKD is the binary KL between teacher and student on (target, all other classes);
    NCKD is the KL between their distributions over the non-target classes only.
    The target is the label when given, else the teacher ensemble's top class, so
    DKD also works on unlabelled transfer data.

    Args:
        target_weight: weight of TCKD (the paper's alpha, default 1.0).
        non_target_weight: weight of NCKD (the paper's beta, default 8.0).
        teacher_outputs: "logits" (default) or "probs".
    """

    def __init__(self, target_weight=1.0, non_target_weight=8.0, teacher_outputs="logits", name="dkd", **kwargs):
        super().__init__(teacher_outputs=teacher_outputs, name=name, **kwargs)
        self.target_weight = _check_weight(target_weight, "target_weight")
        self.non_target_weight = _check_weight(non_target_weight, "non_target_weight")

    def per_sample(self, y_true, teacher_outputs, student_outputs, temperature, teacher_weights):
        teacher_probs = ensemble_probabilities(teacher_outputs, teacher_weights, self.teacher_outputs, temperature)
        student_probs = tf.nn.softmax(tf.cast(student_outputs, tf.float32) / temperature, axis=-1)
        num_classes = tf.shape(student_probs)[-1]
        if y_true is None:
            target = tf.argmax(teacher_probs, axis=-1)
        else:
            target = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        target_mask = tf.one_hot(target, num_classes, dtype=tf.float32)

        teacher_target = tf.reduce_sum(teacher_probs * target_mask, axis=-1)
        student_target = tf.reduce_sum(student_probs * target_mask, axis=-1)
        tckd = _binary_kl(teacher_target, student_target)

        other = 1.0 - target_mask
        teacher_other = teacher_probs * other / tf.maximum(1.0 - teacher_target, _EPSILON)[:, None]
        student_other = student_probs * other / tf.maximum(1.0 - student_target, _EPSILON)[:, None]
        nckd = tf.reduce_sum(
            teacher_other * (_log(teacher_other) - _log(student_other)) * other, axis=-1
        )
        return (self.target_weight * tckd + self.non_target_weight * nckd) * tf.square(temperature)

    def get_config(self):
        return {
            **super().get_config(),
            "target_weight": self.target_weight,
            "non_target_weight": self.non_target_weight,
        }


def _log(p):
    return tf.math.log(tf.clip_by_value(p, _EPSILON, 1.0))


def _binary_kl(p, q):
    return p * (_log(p) - _log(q)) + (1.0 - p) * (_log(1.0 - p) - _log(1.0 - q))
