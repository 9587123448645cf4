"""FitNets (Romero et al. 2015): student features regress onto teacher features."""

import tensorflow as tf
import tf_keras

from tfkd.losses.base import FeatureTerm, mean_over_non_batch_axes, resize_to

ADAPTERS = ("auto", "always", "never")


class FeatureHint(FeatureTerm):
    """Mean squared error between teacher features and (adapted) student features.

    Each ``(teacher_layer, student_layer)`` pair is matched at its own depth and the
    pairs are averaged. When the widths (last axis) differ, a learned adapter maps
    the student's features to the teacher's width: a Dense layer for vectors, a 1x1
    Conv2D for feature maps. Feature maps of different spatial size are resized
    bilinearly to the teacher's. Adapters train with the student but are never part
    of ``Distiller.student``.

    Args:
        pairs: list of (teacher_layer_name, student_layer_name).
        weight: multiplier of this term inside the distillation part of the loss.
        adapter: "auto" (only when widths differ), "always" (the FitNets regressor) or "never".
        hint_epochs: train only on hints for this many epochs first (the FitNets
            two-stage schedule), then on everything.
    """

    def __init__(self, pairs, weight=1.0, adapter="auto", hint_epochs=0, name="feature_hint", **kwargs):
        super().__init__(pairs, weight=weight, name=name, **kwargs)
        if adapter not in ADAPTERS:
            raise ValueError(f"adapter={adapter!r} is invalid; expected one of {ADAPTERS}")
        if not isinstance(hint_epochs, int) or hint_epochs < 0:
            raise ValueError(f"hint_epochs={hint_epochs!r} is invalid; expected an integer >= 0")
        self.adapter = adapter
        self.hint_epochs = hint_epochs
        self.adapters = []

    def build_for(self, teacher_shapes, student_shapes):
        if self.adapters:
            return
        for index, (teacher_shape, student_shape, (t_name, s_name)) in enumerate(
            zip(teacher_shapes, student_shapes, self.pairs)
        ):
            if len(teacher_shape) != len(student_shape) or len(teacher_shape) not in (1, 3):
                raise ValueError(
                    f"cannot pair teacher layer {t_name!r} (features {teacher_shape}) with student layer "
                    f"{s_name!r} (features {student_shape}); expected both vectors (width,) or both "
                    "feature maps (height, width, channels)"
                )
            needs_adapter = self.adapter == "always" or (
                self.adapter == "auto" and teacher_shape[-1] != student_shape[-1]
            )
            if self.adapter == "never" and teacher_shape[-1] != student_shape[-1]:
                raise ValueError(
                    f"teacher layer {t_name!r} has width {teacher_shape[-1]} but student layer {s_name!r} "
                    f"has {student_shape[-1]}; use adapter='auto' to learn a mapping"
                )
            if not needs_adapter:
                self.adapters.append(None)
                continue
            if len(student_shape) == 1:
                layer = tf_keras.layers.Dense(teacher_shape[-1], name=f"{self.name}_adapter_{index}")
            else:
                layer = tf_keras.layers.Conv2D(teacher_shape[-1], 1, name=f"{self.name}_adapter_{index}")
            layer.build((None, *student_shape))
            self.adapters.append(layer)

    def per_sample(self, teacher_features, student_features):
        per_pair = []
        for adapter, teacher, student in zip(self.adapters, teacher_features, student_features):
            student = tf.cast(student, tf.float32)
            if adapter is not None:
                student = adapter(student)
            if student.shape.rank == 4:
                student = resize_to(student, teacher.shape[1:3])
            per_pair.append(mean_over_non_batch_axes(tf.square(student - tf.cast(teacher, tf.float32))))
        return tf.add_n(per_pair) / float(len(per_pair))

    def get_config(self):
        return {**super().get_config(), "adapter": self.adapter, "hint_epochs": self.hint_epochs}
