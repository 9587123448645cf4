"""Magnitude pruning with TF-MOT, fine-tuned under the teacher's guidance."""

import math

import tensorflow_model_optimization as tfmot

from tfkd.compress import fine_tune as fine_tune_module
from tfkd.compress import layers

SCHEDULES = ("polynomial", "constant")
STRUCTURES = (None, "2:4")
DEFAULT_SPARSITY = 0.75
# Sparsity ramps up over this fraction of the training steps; the remaining steps
# train at the final mask, so the surviving weights recover from the last cut.
RAMP_FRACTION = 0.75
# About this many mask updates during the ramp: small enough steps that the weights
# adapt between cuts, few enough that each is worth its top-k.
MASK_UPDATES = 20
# The fewest training steps each schedule can work with: the polynomial ramp needs a
# few intermediate sparsities plus recovery steps; a constant or 2:4 mask needs one
# step to be applied (TF-MOT sets 2:4 masks at step 1) and one to recover.
MIN_STEPS = {"polynomial": 8, "constant": 2, "2:4": 2}


def pruning_schedule(schedule, target_sparsity, total_steps):
    """The TF-MOT schedule reaching ``target_sparsity`` after ``RAMP_FRACTION`` of ``total_steps``.

    TF-MOT counts steps from 1 and updates masks where ``step % frequency == 0``, so
    ``end_step`` is a multiple of ``frequency``: the last update lands exactly on the target.
    """
    ramp = max(1, int(total_steps * RAMP_FRACTION))
    frequency = max(1, ramp // MASK_UPDATES)
    end_step = frequency * (ramp // frequency)
    if schedule == "polynomial":
        return tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=target_sparsity, begin_step=0, end_step=end_step, frequency=frequency
        )
    return tfmot.sparsity.keras.ConstantSparsity(target_sparsity, begin_step=0, end_step=end_step, frequency=frequency)


def prune(
    model,
    data,
    teacher=None,
    target_sparsity=None,
    schedule="polynomial",
    structure=None,
    exclude=(),
    log_dir=None,
    fine_tune=None,
    **fine_tune_options,
):
    """Prunes ``model`` with TF-MOT's ``prune_low_magnitude`` and returns the stripped model.

    The kernels of Conv2D, Dense and the other layers TF-MOT prunes lose their
    smallest weights while the model fine-tunes, through ``tfkd.Distiller`` when
    ``teacher`` is given (the teacher guides every step) and on the labels otherwise.
    The returned model has ordinary layers whose kernels hold the zeros; ``model``
    itself is not changed.

    Args:
        model: a built Sequential or functional ``tf_keras`` model.
        data: an ``(x, y)`` tuple of arrays or a finite ``tf.data.Dataset`` of ``(x, y)``
            batches; with a teacher, unlabelled inputs (an array or a dataset of ``x``) too.
        teacher: a teacher as ``tfkd.Distiller`` takes it, or None for plain fine-tuning.
        target_sparsity: fraction of each pruned kernel set to zero, in [0, 1); default
            0.75. With ``structure="2:4"`` the sparsity is 0.5 by construction.
        schedule: "polynomial" raises sparsity from 0 smoothly (Zhu & Gupta 2017);
            "constant" applies the target at once and re-selects the mask as it trains.
            Either reaches the target after 75% of the steps and trains the rest at it.
        structure: None for unstructured pruning or "2:4" for two zeros in every four
            consecutive input-channel weights (TF-MOT's m-by-n sparsity, set at step 1).
        exclude: layer names and/or layer classes to leave dense.
        log_dir: when given, TF-MOT's ``PruningSummaries`` log sparsity to TensorBoard there.
        fine_tune: a ``tfkd.compress.FineTune``; ``fine_tune_options`` (its fields:
            ``epochs``, ``batch_size``, ``learning_rate``, ``temperature``, ``verbose``, ...)
            override it. The schedule's steps derive from ``epochs``, ``batch_size`` and
            the size of ``data``; the default learning rate is 1e-3.

    Raises:
        ValueError: for a ``target_sparsity``, ``schedule``, ``structure`` or ``exclude``
            that is out of range, a layer TF-MOT cannot prune (naming the ``exclude``
            entry that skips it), or data too short for the schedule.

    Example:

    >>> import tfkd
    >>> (x, y), _, _ = tfkd.data.load("digits")
    >>> student = tfkd.models.cnn_student((8, 8, 1), 10)
    >>> pruned = tfkd.compress.prune(student, (x[:256], y[:256]), target_sparsity=0.5, epochs=1, verbose=0)
    >>> round(tfkd.compress.summary(pruned).sparsity, 2)
    0.5
    """
    layers.check_model(model, "prune")
    if structure not in STRUCTURES:
        raise ValueError(f"structure={structure!r} is invalid; expected None (unstructured) or '2:4'")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} is invalid; expected one of {SCHEDULES}")
    target_sparsity = _check_sparsity(target_sparsity, structure)
    options = fine_tune_module.resolve(fine_tune, teacher, fine_tune_options)
    exclude = layers.check_exclude(exclude, model)
    x, y = fine_tune_module.split(data, options.teacher)

    per_epoch = fine_tune_module.steps_per_epoch(x, options.batch_size)
    total_steps = per_epoch * options.epochs
    kind = structure or schedule
    if total_steps < MIN_STEPS[kind]:
        raise ValueError(
            f"the {kind} pruning schedule needs at least {MIN_STEPS[kind]} training steps, but data gives "
            f"{total_steps} ({per_epoch} per epoch x {options.epochs} epochs at batch_size={options.batch_size}); "
            "pass more data or epochs, or a smaller batch_size"
        )
    if structure == "2:4":
        # TF-MOT ignores the schedule's sparsity under m-by-n: it sets the masks at step 1.
        wrap_options = {"pruning_schedule": tfmot.sparsity.keras.ConstantSparsity(0.5, 0), "sparsity_m_by_n": (2, 4)}
    else:
        wrap_options = {"pruning_schedule": pruning_schedule(schedule, target_sparsity, total_steps)}

    wrapped = tfmot.sparsity.keras.prune_low_magnitude(
        layers.copy_model(model), pruning_policy=_LeaveOut(exclude, wrap_options), **wrap_options
    )
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    if log_dir is not None:
        callbacks.append(tfmot.sparsity.keras.PruningSummaries(log_dir=str(log_dir)))
    fine_tune_module.fit(wrapped, x, y, options, default_learning_rate=1e-3, callbacks=callbacks)
    return tfmot.sparsity.keras.strip_pruning(wrapped)


class _LeaveOut(tfmot.sparsity.keras.PruningPolicy):
    """Prunes every layer with trainable weights except the excluded ones; names the first it cannot prune."""

    def __init__(self, exclude, wrap_options):
        self._exclude = exclude
        self._wrap_options = wrap_options

    def allow_pruning(self, layer):
        return not layers.is_excluded(layer, self._exclude) and bool(layer.trainable_weights)

    def ensure_model_supports_pruning(self, model):
        for layer, _ in layers.leaf_layers(model):
            if not self.allow_pruning(layer):
                continue
            # TF-MOT's public API has no "can this layer be pruned" query: its wrapper's
            # constructor is the check (it builds nothing).
            try:
                tfmot.sparsity.keras.prune_low_magnitude(layer, **self._wrap_options)
            except ValueError as e:
                raise layers.unsupported(layer, "pruning") from e


def _check_sparsity(target_sparsity, structure):
    if structure == "2:4":
        if target_sparsity not in (None, 0.5):
            raise ValueError(
                f"target_sparsity={target_sparsity!r} is invalid with structure='2:4', whose sparsity is 0.5 "
                "by construction; leave target_sparsity unset"
            )
        return 0.5
    if target_sparsity is None:
        return DEFAULT_SPARSITY
    if (
        isinstance(target_sparsity, bool)
        or not isinstance(target_sparsity, (int, float))
        or not math.isfinite(target_sparsity)
        or not 0.0 <= target_sparsity < 1.0
    ):
        raise ValueError(f"target_sparsity={target_sparsity!r} is invalid; expected a number in [0, 1)")
    return float(target_sparsity)
