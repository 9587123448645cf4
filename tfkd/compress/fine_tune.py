"""How every compression step fine-tunes: one ``FineTune`` config, one training loop.

With a teacher, each step is a distillation step: the wrapped student trains through
``tfkd.Distiller`` so the teacher keeps guiding it while it is pruned, clustered or
learns to live with int8. Without a teacher it trains on the labels with plain ``fit``.
``prune``, ``cluster`` and ``quantize`` take a ``FineTune`` (``fine_tune=``) and/or its
fields as keyword arguments, which override the config's.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tf_keras


@dataclasses.dataclass(frozen=True, eq=False)
class FineTune:
    """The training a compression step runs while TF-MOT's wrappers adapt the model.

    Attributes:
        teacher: a teacher as ``tfkd.Distiller`` takes it, or None for plain fine-tuning.
        epochs, batch_size: fine-tuning length (``batch_size`` is ignored for datasets).
        optimizer: a ``tf_keras`` optimizer; or ``learning_rate`` for Adam. Left None, each
            step uses its own default rate (1e-3 pruning, 1e-4 clustering and QAT).
        loss, metrics: the hard-label loss (default sparse cross-entropy on logits) and metrics.
        temperature, alpha: the Distiller's softening temperature and hard-label weight.
        distiller_options: further ``tfkd.Distiller`` keyword arguments: the distillation
            recipe, e.g. ``{"augment": tfkd.augment.images(...), "mixup": 0.2}``.
        callbacks: ``fit`` callbacks added to the step's own.
        validation_data, verbose: as for ``fit``; ``verbose=1`` shows Keras progress bars.
    """

    teacher: object = None
    epochs: int = 2
    batch_size: int = 32
    optimizer: object = None
    learning_rate: float = None
    loss: object = None
    metrics: tuple = ("accuracy",)
    temperature: float = 4.0
    alpha: float = 0.1
    distiller_options: dict = dataclasses.field(default_factory=dict)
    callbacks: tuple = ()
    validation_data: object = None
    verbose: int = 1

    def __post_init__(self):
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        if self.optimizer is not None and self.learning_rate is not None:
            raise ValueError("pass either optimizer= or learning_rate=, not both; learning_rate builds the default Adam")


FIELDS = tuple(field.name for field in dataclasses.fields(FineTune))


def resolve(fine_tune, teacher, options):
    """The ``FineTune`` a step runs: ``fine_tune`` (or the defaults) with ``teacher`` and ``options`` applied."""
    if fine_tune is not None and not isinstance(fine_tune, FineTune):
        raise ValueError(f"fine_tune={fine_tune!r} is invalid; expected a tfkd.compress.FineTune or None")
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise TypeError(f"unexpected keyword arguments {unknown}; fine-tuning options are: {', '.join(FIELDS)}")
    if teacher is not None:
        options = {**options, "teacher": teacher}
    base = fine_tune or FineTune()
    return dataclasses.replace(base, **options) if options else base


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


def fit(model, x, y, options, default_learning_rate, callbacks=()):
    """Trains ``model`` in place as ``options`` say, through ``tfkd.Distiller`` with a teacher; returns the History."""
    optimizer = options.optimizer
    if optimizer is None:
        rate = default_learning_rate if options.learning_rate is None else options.learning_rate
        optimizer = tf_keras.optimizers.Adam(rate)
    loss = options.loss or tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainer = model
    if options.teacher is not None:
        from tfkd.distiller import Distiller

        trainer = Distiller(student=model, teacher=options.teacher, temperature=options.temperature,
                            alpha=options.alpha, **options.distiller_options)
    trainer.compile(optimizer=optimizer, loss=loss, metrics=list(options.metrics or []))
    arrays = not isinstance(x, tf.data.Dataset)
    return trainer.fit(
        x,
        y,
        batch_size=options.batch_size if arrays else None,
        epochs=options.epochs,
        callbacks=[*callbacks, *options.callbacks],
        validation_data=options.validation_data,
        shuffle=True,
        verbose=options.verbose,
    )
