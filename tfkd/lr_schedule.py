"""Learning-rate warm-up then cosine decay, set once per epoch.

A short linear warm-up keeps the first Adam steps of a freshly initialised student
from overshooting at the peak rate; the cosine then decays to a small fraction of the
peak, which lets long ("patient") schedules settle instead of oscillating around the
minimum a constant rate keeps them in.
"""

import math

import tf_keras


def warmup_cosine(peak, epochs, warmup_fraction=0.05, final_fraction=0.01):
    """The learning rate of each epoch (0-based) as a function: ``rate(epoch)``."""
    if not (isinstance(peak, (int, float)) and peak > 0):
        raise ValueError(f"peak={peak!r} is invalid; expected a learning rate > 0")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs={epochs!r} is invalid; expected an integer >= 1")
    warmup = max(1, round(warmup_fraction * epochs)) if epochs > 2 else 0

    def rate(epoch):
        if epoch < warmup:
            return peak * (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, epochs - warmup - 1)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return peak * (final_fraction + (1.0 - final_fraction) * cosine)

    return rate


def callback(peak, epochs, **kwargs):
    """A Keras callback that sets the optimizer's rate to ``warmup_cosine(...)`` at every epoch start."""
    rate = warmup_cosine(peak, epochs, **kwargs)
    return tf_keras.callbacks.LearningRateScheduler(lambda epoch, _current: rate(epoch))
