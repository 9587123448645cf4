"""Augmentation for consistent teaching: random image transforms and in-batch mixing.

``images(...)`` builds a ``tf_keras`` layer of Keras preprocessing layers that
transforms a batch only when called with ``training=True``; ``Distiller(augment=...)``
applies it once per training batch, so every teacher and the student see the same
transformed images (Beyer et al., CVPR 2022, "Knowledge distillation: A good teacher
is patient and consistent"). The same layer in front of a plain model trains a fair
scratch baseline.

``mix(...)`` is the batch-level half, MixUp (Zhang et al. 2018) and CutMix (Yun et
al. 2019), which ``Distiller(mixup=..., cutmix=...)`` calls inside ``train_step``.

Example:

>>> import numpy as np
>>> import tfkd
>>> layer = tfkd.augment.images(translate=0.1, rotate=10, seed=0)
>>> batch = np.random.default_rng(0).random((4, 8, 8, 1), dtype="float32")
>>> bool(np.array_equal(layer(batch, training=False), batch))
True
>>> tuple(layer(batch, training=True).shape)
(4, 8, 8, 1)
"""

import math

import tensorflow as tf
import tf_keras

FILL_MODES = ("constant", "reflect", "wrap", "nearest")


def images(translate=0.0, rotate=0.0, zoom=0.0, contrast=0.0, flip=False, seed=None, fill_mode="constant"):
    """A layer that randomly transforms NHWC image batches in training and passes them through otherwise.

    Args:
        translate: largest shift, as a fraction of the height and of the width, in [0, 1).
        rotate: largest rotation in degrees, in [0, 180].
        zoom: largest zoom in or out, as a fraction of the size, in [0, 1).
        contrast: largest contrast change, as a fraction, in [0, 1]; pixels must be >= 0
            (Keras clips the result to [0, 255]).
        flip: also mirror left-right at random (wrong for digits and text, right for most photos).
        seed: integer seed of the random transforms, or None.
        fill_mode: how pixels moved in from outside are filled: "constant" (zeros, the
            background of most scaled images), "reflect", "wrap" or "nearest".

    Returns:
        An ``ImageAugmentation`` layer; all-zero strengths give a layer that changes nothing.
    """
    for value, argument, high, high_inclusive in (
        (translate, "translate", 1.0, False),
        (rotate, "rotate", 180.0, True),
        (zoom, "zoom", 1.0, False),
        (contrast, "contrast", 1.0, True),
    ):
        _check_strength(value, argument, high, high_inclusive)
    if not isinstance(flip, bool):
        raise ValueError(f"flip={flip!r} is invalid; expected True or False")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed={seed!r} is invalid; expected an integer or None")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode={fill_mode!r} is invalid; expected one of {FILL_MODES}")
    return ImageAugmentation(
        translate=float(translate), rotate=float(rotate), zoom=float(zoom), contrast=float(contrast),
        flip=flip, seed=seed, fill_mode=fill_mode,
    )


class ImageAugmentation(tf_keras.layers.Layer):
    """Keras preprocessing layers in sequence, applied only when ``training=True``; see ``images``."""

    def __init__(self, translate=0.0, rotate=0.0, zoom=0.0, contrast=0.0, flip=False, seed=None,
                 fill_mode="constant", **kwargs):
        super().__init__(**kwargs)
        self.translate, self.rotate, self.zoom, self.contrast = translate, rotate, zoom, contrast
        self.flip, self.seed, self.fill_mode = flip, seed, fill_mode
        # Each transform gets its own seed: one shared seed would correlate them.
        def seed_of(index):
            return None if seed is None else seed + index

        geometry = dict(fill_mode=fill_mode, interpolation="bilinear")
        self.transforms = []
        if flip:
            self.transforms.append(tf_keras.layers.RandomFlip("horizontal", seed=seed_of(0)))
        if rotate:
            # Keras measures rotation in fractions of a full turn.
            self.transforms.append(tf_keras.layers.RandomRotation(rotate / 360.0, seed=seed_of(1), **geometry))
        if zoom:
            self.transforms.append(tf_keras.layers.RandomZoom(zoom, seed=seed_of(2), **geometry))
        if translate:
            self.transforms.append(
                tf_keras.layers.RandomTranslation(translate, translate, seed=seed_of(3), **geometry)
            )
        if contrast:
            self.transforms.append(tf_keras.layers.RandomContrast(contrast, seed=seed_of(4)))

    def build(self, input_shape):
        _check_images(input_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        _check_images(inputs.shape)
        if not training:
            return inputs
        outputs = inputs
        for transform in self.transforms:
            outputs = transform(outputs, training=True)
        return tf.cast(outputs, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "translate": self.translate, "rotate": self.rotate, "zoom": self.zoom, "contrast": self.contrast,
            "flip": self.flip, "seed": self.seed, "fill_mode": self.fill_mode,
        }


def mix(inputs, mixup=0.0, cutmix=0.0):
    """Mixes a batch with a permutation of itself; returns ``(mixed, lam, permutation)``.

    ``lam`` is drawn from Beta(a, a) once per batch and folded into [0.5, 1], so the
    unpermuted sample always dominates; its label is the one accuracy is measured
    against. With both ``mixup`` and ``cutmix`` > 0 each batch uses one of them, with
    equal chance. For CutMix ``lam`` is the fraction of pixels kept from the
    unpermuted sample after clipping the box to the image.
    """
    permutation = tf.random.shuffle(tf.range(tf.shape(inputs)[0]))
    shuffled = tf.gather(inputs, permutation)
    if mixup and cutmix:
        return tf.cond(
            tf.random.uniform([]) < 0.5,
            lambda: (*_mixup(inputs, shuffled, mixup), permutation),
            lambda: (*_cutmix(inputs, shuffled, cutmix), permutation),
        )
    if mixup:
        return (*_mixup(inputs, shuffled, mixup), permutation)
    return (*_cutmix(inputs, shuffled, cutmix), permutation)


def _beta_fold(alpha):
    a = tf.random.gamma([], alpha)
    b = tf.random.gamma([], alpha)
    lam = a / (a + b)
    return tf.maximum(lam, 1.0 - lam)


def _mixup(inputs, shuffled, alpha):
    lam = _beta_fold(alpha)
    weight = tf.cast(lam, inputs.dtype)
    return weight * inputs + (1 - weight) * shuffled, lam


def _cutmix(inputs, shuffled, alpha):
    lam = _beta_fold(alpha)
    shape = tf.shape(inputs)
    height, width = shape[1], shape[2]
    side = tf.sqrt(1.0 - lam)
    half_h = tf.cast(tf.cast(height, tf.float32) * side, tf.int32) // 2
    half_w = tf.cast(tf.cast(width, tf.float32) * side, tf.int32) // 2
    center_y = tf.random.uniform([], 0, height, dtype=tf.int32)
    center_x = tf.random.uniform([], 0, width, dtype=tf.int32)
    rows = tf.range(height)
    cols = tf.range(width)
    in_rows = (rows >= center_y - half_h) & (rows < center_y + half_h)
    in_cols = (cols >= center_x - half_w) & (cols < center_x + half_w)
    box = in_rows[:, None] & in_cols[None, :]
    mixed = tf.where(box[None, :, :, None], shuffled, inputs)
    pasted = tf.reduce_sum(tf.cast(box, tf.float32)) / tf.cast(height * width, tf.float32)
    return mixed, 1.0 - pasted


def _check_images(shape):
    shape = tf.TensorShape(shape)
    if shape.rank is not None and shape.rank != 4:
        raise ValueError(
            f"image augmentation needs a batch of images of rank 4 (batch, height, width, channels); "
            f"got inputs of shape {tuple(shape)}. Use mixup for tabular or sequence data"
        )


def _check_strength(value, argument, high, high_inclusive):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument}={value!r} is invalid; expected a finite number")
    if value < 0 or value > high or (value == high and not high_inclusive):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{argument}={value!r} is invalid; expected a number in [0, {high:g}{bracket}")
