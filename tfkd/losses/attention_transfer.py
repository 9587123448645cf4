"""Attention transfer (Zagoruyko and Komodakis, ICLR 2017)."""

import tensorflow as tf

from tfkd.losses.base import FeatureTerm

DEFAULT_WEIGHT = 1000.0


def attention_map(features):
    """Spatial attention: mean over channels of squared activations, flattened and L2-normalised."""
    features = tf.cast(features, tf.float32)
    attention = tf.reduce_mean(tf.square(features), axis=-1)
    attention = tf.reshape(attention, [tf.shape(attention)[0], -1])
    return tf.math.l2_normalize(attention, axis=-1)


class AttentionTransfer(FeatureTerm):
    """Mean squared difference of normalised spatial attention maps, summed over layer pairs.

    Channel counts may differ between teacher and student (attention averages over
    channels); spatial sizes that differ are matched by resizing the student's
    squared-activation map bilinearly before normalisation. The default weight of
    1000 follows the authors' reference code, which averages rather than sums the
    squared differences.
    """

    def __init__(self, pairs, weight=DEFAULT_WEIGHT, name="attention_transfer", **kwargs):
        super().__init__(pairs, weight=weight, name=name, **kwargs)

    def build_for(self, teacher_shapes, student_shapes):
        for teacher_shape, student_shape, (t_name, s_name) in zip(teacher_shapes, student_shapes, self.pairs):
            if len(teacher_shape) != 3 or len(student_shape) != 3:
                raise ValueError(
                    f"attention transfer needs feature maps (height, width, channels); teacher layer "
                    f"{t_name!r} gives {teacher_shape} and student layer {s_name!r} gives {student_shape}"
                )

    def per_sample(self, teacher_features, student_features):
        per_pair = []
        for teacher, student in zip(teacher_features, student_features):
            size = teacher.shape[1:3]
            if tuple(student.shape[1:3]) != tuple(size):
                energy = tf.reduce_mean(tf.square(tf.cast(student, tf.float32)), axis=-1, keepdims=True)
                student = tf.sqrt(tf.maximum(tf.image.resize(energy, size, method="bilinear"), 0.0))
            difference = attention_map(student) - attention_map(teacher)
            per_pair.append(tf.reduce_mean(tf.square(difference), axis=-1))
        return tf.add_n(per_pair)
