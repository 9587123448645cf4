"""Hinton et al. 2015: match the teacher's softened class distribution."""

import tensorflow as tf

from tfkd.losses.base import ClassificationTerm, ensemble_probabilities, log_probabilities


class SoftTarget(ClassificationTerm):
    """KL(softmax(t / T) || softmax(s / T)) * T^2, per sample.

    The T^2 factor keeps the gradient scale independent of the temperature (Hinton
    et al., "Distilling the Knowledge in a Neural Network", 2015). With several
    teachers, their softened distributions are averaged (weighted) first.

    Args:
        teacher_outputs: "logits" (default) or "probs" when the teacher ends in softmax.

    Example:

    >>> import numpy as np
    >>> import tfkd
    >>> term = tfkd.losses.SoftTarget()
    >>> teacher, student = np.array([[2.0, 0.0]]), np.array([[2.0, 0.0]])
    >>> round(float(term.per_sample(None, [teacher], student, temperature=4.0, teacher_weights=[1.0])[0]), 4)
    0.0
    """

    def __init__(self, teacher_outputs="logits", name="soft_target", **kwargs):
        super().__init__(teacher_outputs=teacher_outputs, name=name, **kwargs)

    def per_sample(self, y_true, teacher_outputs, student_outputs, temperature, teacher_weights):
        student_log_probs = tf.nn.log_softmax(tf.cast(student_outputs, tf.float32) / temperature, axis=-1)
        if len(teacher_outputs) == 1:
            # One teacher: its log-probabilities are exact, no ensemble average to take the log of.
            teacher_log_probs = log_probabilities(teacher_outputs[0], self.teacher_outputs, temperature)
            teacher_probs = tf.exp(teacher_log_probs)
        else:
            teacher_probs = ensemble_probabilities(teacher_outputs, teacher_weights, self.teacher_outputs, temperature)
            teacher_log_probs = tf.math.log(tf.clip_by_value(teacher_probs, 1e-12, 1.0))
        kl = tf.reduce_sum(teacher_probs * (teacher_log_probs - student_log_probs), axis=-1)
        return kl * tf.square(temperature)
