"""What every distillation term shares: per-sample values and teacher ensembles."""

import numpy as np
import tensorflow as tf
import tf_keras

OUTPUT_KINDS = ("logits", "probs")
_PROBABILITY_TOLERANCE = 1e-3


def check_output_kind(value, argument):
    if value not in OUTPUT_KINDS:
        raise ValueError(f"{argument}={value!r} is invalid; expected 'logits' or 'probs'")
    return value


def looks_like_probabilities(outputs):
    """True when every row is non-negative and sums to 1, as a softmax output does."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim < 2 or outputs.shape[-1] < 2:
        return False
    return bool(np.all(outputs >= 0.0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=_PROBABILITY_TOLERANCE))


def log_probabilities(outputs, kind, temperature):
    """log softmax(z / T) for logits, or the same for probabilities p = softmax(z)."""
    outputs = tf.cast(outputs, tf.float32)
    if kind == "probs":
        outputs = tf.math.log(tf.clip_by_value(outputs, 1e-12, 1.0))
    return tf.nn.log_softmax(outputs / temperature, axis=-1)


def ensemble_probabilities(teacher_outputs, teacher_weights, kind, temperature):
    """Weighted average of the teachers' softened distributions."""
    probabilities = [tf.exp(log_probabilities(t, kind, temperature)) for t in teacher_outputs]
    return tf.add_n([w * p for w, p in zip(teacher_weights, probabilities)])


class LogitTerm(tf_keras.layers.Layer):
    """A distillation term on the models' outputs.

    Subclasses implement ``per_sample(y_true, teacher_outputs, student_outputs,
    temperature, teacher_weights)`` returning one loss value per sample;
    ``teacher_outputs`` is a list with one tensor per teacher and ``y_true`` may be None.
    """

    needs_labels = False

    def check_outputs(self, teacher_outputs, student_outputs):
        """Validates the first batch's outputs (NumPy arrays); raises ValueError."""

    def per_sample(self, y_true, teacher_outputs, student_outputs, temperature, teacher_weights):
        raise NotImplementedError

    def teacher_predictions(self, teacher_outputs, teacher_weights):
        """The ensemble's predicted class, used to down-weight samples the teacher gets wrong."""
        combined = tf.add_n([w * tf.cast(t, tf.float32) for w, t in zip(teacher_weights, teacher_outputs)])
        return tf.argmax(combined, axis=-1)


class ClassificationTerm(LogitTerm):
    """A logit term for classifiers: knows whether the teacher emits logits or probabilities."""

    def __init__(self, teacher_outputs="logits", **kwargs):
        super().__init__(**kwargs)
        self.teacher_outputs = check_output_kind(teacher_outputs, "teacher_outputs")

    def check_outputs(self, teacher_outputs, student_outputs):
        for index, outputs in enumerate(teacher_outputs):
            if self.teacher_outputs == "logits" and looks_like_probabilities(outputs):
                raise ValueError(
                    f"teacher {index} emits probabilities (rows are non-negative and sum to 1) but "
                    f"{type(self).__name__} was given teacher_outputs='logits'; pass "
                    "teacher_outputs='probs' or remove the teacher's final softmax"
                )
        if looks_like_probabilities(student_outputs):
            raise ValueError(
                "the student emits probabilities (rows sum to 1); distillation needs its logits: "
                "remove the student's final softmax and use a loss with from_logits=True"
            )

    def get_config(self):
        return {**super().get_config(), "teacher_outputs": self.teacher_outputs}


def pair_list(pairs, term_name):
    """Validates ``[(teacher_layer, student_layer), ...]`` and returns it as a list of tuples."""
    if isinstance(pairs, tuple) and len(pairs) == 2 and all(isinstance(p, str) for p in pairs):
        pairs = [pairs]
    try:
        pairs = [tuple(p) for p in pairs]
    except TypeError:
        pairs = None
    if not pairs or any(len(p) != 2 or not all(isinstance(n, str) and n for n in p) for p in pairs):
        raise ValueError(
            f"{term_name} pairs={pairs!r} is invalid; expected a non-empty list of "
            "(teacher_layer_name, student_layer_name) string pairs"
        )
    return pairs


class FeatureTerm(tf_keras.layers.Layer):
    """A distillation term on intermediate activations of (teacher, student) layer pairs.

    Subclasses implement ``per_sample(teacher_features, student_features)`` with one
    tensor per pair in each list, and may create adapters in ``build_for``.
    """

    def __init__(self, pairs, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.pairs = pair_list(pairs, type(self).__name__)
        if not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight={weight!r} is invalid; expected a finite number >= 0")
        self.weight = float(weight)

    def build_for(self, teacher_shapes, student_shapes):
        """Creates any variables, given the per-pair feature shapes (without batch)."""

    def per_sample(self, teacher_features, student_features):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "pairs": [list(p) for p in self.pairs], "weight": self.weight}


def mean_over_non_batch_axes(values):
    values = tf.cast(values, tf.float32)
    if values.shape.rank is not None and values.shape.rank <= 1:
        return values
    return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=-1)


def resize_to(features, spatial_shape):
    """Bilinearly resizes NHWC features to ``spatial_shape`` when it differs."""
    if tuple(features.shape[1:3]) == tuple(spatial_shape):
        return features
    return tf.image.resize(features, spatial_shape, method="bilinear")
