"""Fine-tuning shared by every compression step.

With a teacher, each step is a distillation step: the wrapped student trains through
``tfkd.Distiller`` so the teacher keeps guiding it while it is pruned, clustered or
learns to live with int8. Without a teacher it trains on the labels with plain ``fit``.
"""

import math

import numpy as np
import tensorflow as tf
import tf_keras


def check_positive_int(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument}={value!r} is invalid; expected a positive integer")
    return int(value)


def split(data, teacher):
    """``(x, y)`` for arrays (``y`` None when unlabelled), or ``(dataset, None)``."""
    if isinstance(data, tf.data.Dataset):
        labelled = isinstance(data.element_spec, tuple) and len(data.element_spec) >= 2
        x, y = data, None
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if len(x) != len(y):
            raise ValueError(f"data holds {len(x)} inputs but {len(y)} labels; expected one label per input")
        labelled = True
    elif isinstance(data, (np.ndarray, tf.Tensor)):
        x, y, labelled = np.asarray(data), None, False
    else:
        raise ValueError(
            f"data of type {type(data).__name__} is invalid; expected an (x, y) tuple of arrays, "
            "a tf.data.Dataset of (x, y) batches, or (with a teacher) unlabelled inputs"
        )
    if not labelled and teacher is None:
        raise ValueError(
            "data has no labels; fine-tuning without a teacher needs (x, y); pass teacher= to distil on unlabelled inputs"
        )
    if not isinstance(x, tf.data.Dataset) and len(x) == 0:
        raise ValueError("data is empty; expected at least one training sample")
    return x, y


def steps_per_epoch(x, batch_size):
    """Optimizer steps in one pass over ``x`` (arrays in ``batch_size`` batches, or a batched dataset)."""
    if not isinstance(x, tf.data.Dataset):
        return math.ceil(len(x) / batch_size)
    cardinality = int(x.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "data is an infinite dataset; compression schedules are derived from one pass over the data, "
            "so pass a finite dataset (for example dataset.take(n))"
        )
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        # Filters and the like hide the length; one pass counts it.
        cardinality = int(x.reduce(np.int64(0), lambda count, _: count + 1))
    if cardinality == 0:
        raise ValueError("data is an empty dataset; expected at least one batch")
    return cardinality


def fit(
    model,
    x,
    y,
    *,
    teacher,
    epochs,
    batch_size,
    optimizer,
    learning_rate,
    default_learning_rate,
    loss,
    metrics,
    temperature,
    alpha,
    callbacks=(),
    validation_data=None,
    verbose=1,
):
    """Trains ``model`` in place, through ``tfkd.Distiller`` when ``teacher`` is given; returns the History."""
    if optimizer is not None and learning_rate is not None:
        raise ValueError("pass either optimizer= or learning_rate=, not both; learning_rate builds the default Adam")
    if optimizer is None:
        optimizer = tf_keras.optimizers.Adam(default_learning_rate if learning_rate is None else learning_rate)
    if loss is None:
        loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = list(metrics or [])
    if teacher is None:
        trainer = model
        trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    else:
        from tfkd.distiller import Distiller

        trainer = Distiller(student=model, teacher=teacher, temperature=temperature, alpha=alpha)
        trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    arrays = not isinstance(x, tf.data.Dataset)
    return trainer.fit(
        x,
        y,
        batch_size=batch_size if arrays else None,
        epochs=epochs,
        callbacks=list(callbacks),
        validation_data=validation_data,
        shuffle=True,
        verbose=verbose,
    )
