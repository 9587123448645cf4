"""Reference training recipes shared by ``tfkd distill``, ``tfkd demo`` and the benchmarks.

Each recipe seeds TensorFlow, builds the reference model for the data and trains it
with plain ``fit``; the returned ``History`` feeds the report's training curves.
"""

import dataclasses

import tf_keras

from tfkd import models
from tfkd.distiller import Distiller


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Epochs and optimiser settings of one run; ``fast`` variants are for smoke runs."""

    teacher_epochs: int = 12
    student_epochs: int = 40
    batch_size: int = 32
    teacher_learning_rate: float = 1e-3
    student_learning_rate: float = 1e-2
    temperature: float = 4.0
    alpha: float = 0.1


FULL = Recipe()
FAST = Recipe(teacher_epochs=4, student_epochs=10)


def hard_loss():
    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _train_alone(role, x, y, num_classes, epochs, learning_rate, recipe, seed, validation_data, verbose):
    tf_keras.utils.set_random_seed(seed)
    model = models.for_data(x, num_classes, role)
    model.compile(tf_keras.optimizers.Adam(learning_rate), hard_loss(), ["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=recipe.batch_size, validation_data=validation_data,
                        verbose=verbose)
    return model, history


def train_teacher(x, y, num_classes, recipe, seed, validation_data=None, verbose=0):
    return _train_alone("teacher", x, y, num_classes, recipe.teacher_epochs, recipe.teacher_learning_rate,
                        recipe, seed, validation_data, verbose)


def train_scratch(x, y, num_classes, recipe, seed, validation_data=None, verbose=0):
    """The baseline: the reference student trained on labels alone."""
    return _train_alone("student", x, y, num_classes, recipe.student_epochs, recipe.student_learning_rate,
                        recipe, seed, validation_data, verbose)


def distil(teacher, x, y, num_classes, recipe, seed, validation_data=None, verbose=0, callbacks=(),
           **distiller_kwargs):
    """The same student and schedule as ``train_scratch``, taught by ``teacher``.

    ``distiller_kwargs`` go to ``Distiller`` and may override the recipe's temperature and alpha;
    ``callbacks`` go to ``fit`` (e.g. a ``tfkd.callbacks`` schedule).
    """
    tf_keras.utils.set_random_seed(seed)
    distiller_kwargs.setdefault("temperature", recipe.temperature)
    distiller_kwargs.setdefault("alpha", recipe.alpha)
    distiller = Distiller(student=models.for_data(x, num_classes, "student"), teacher=teacher, **distiller_kwargs)
    distiller.compile(tf_keras.optimizers.Adam(recipe.student_learning_rate), hard_loss(), ["accuracy"])
    history = distiller.fit(x, y, epochs=recipe.student_epochs, batch_size=recipe.batch_size,
                            validation_data=validation_data, callbacks=list(callbacks), verbose=verbose)
    return distiller, history


def accuracy(model, x, y):
    """Top-1 accuracy of a logits model, as a fraction."""
    import numpy as np

    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), axis=-1) == y))
