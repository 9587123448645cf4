"""Schedules for the Distiller's ``alpha`` and ``temperature``.

The Distiller keeps both as variables, so these callbacks change them inside compiled
(even XLA-compiled) training without retracing. Current values are logged as the
``alpha`` and ``temperature`` metrics. Learned uncertainty weighting of the terms is
``Distiller(loss_weighting="uncertainty")``, which replaces alpha (alpha schedules then
raise a ValueError); down-weighting samples the teacher gets
wrong is ``Distiller(teacher_error_weight=...)``.

Example:

>>> import tfkd
>>> schedule = tfkd.callbacks.LinearSchedule("alpha", start=0.1, end=0.5, epochs=11)
>>> round(schedule.value_at(5), 2)
0.3
"""

import math

import numpy as np
import tf_keras

PARAMETERS = ("alpha", "temperature")
# (floor, ceiling) that OnPlateau respects unless given a limit.
_DEFAULT_LIMITS = {"alpha": (0.0, 1.0), "temperature": (1.0, 20.0)}


def _check_value(parameter, value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument}={value!r} is invalid; expected a finite number")
    if parameter == "alpha" and not 0.0 <= value <= 1.0:
        raise ValueError(f"{argument}={value!r} is invalid for alpha; expected a number in [0, 1]")
    if parameter == "temperature" and value <= 0:
        raise ValueError(f"{argument}={value!r} is invalid for temperature; expected a number > 0")
    return float(value)


def _check_parameter(parameter):
    if parameter not in PARAMETERS:
        raise ValueError(f"parameter={parameter!r} is invalid; expected one of {PARAMETERS}")
    return parameter


class _ParameterCallback(tf_keras.callbacks.Callback):
    def __init__(self, parameter):
        super().__init__()
        self.parameter = _check_parameter(parameter)

    def on_train_begin(self, logs=None):
        self._variable()  # a misuse fails before the first epoch, not when the callback first acts

    def _variable(self):
        variable = getattr(self.model, self.parameter, None)
        if variable is None or not hasattr(variable, "assign"):
            raise ValueError(f"{type(self).__name__} needs a tfkd.Distiller; got {type(self.model).__name__}")
        if self.parameter == "alpha" and getattr(self.model, "loss_weighting", None) == "uncertainty":
            raise ValueError(
                f"{type(self).__name__}('alpha') has no effect with loss_weighting='uncertainty': the learned "
                "weights replace alpha; schedule the temperature instead or use loss_weighting='fixed'"
            )
        return variable


class EpochSchedule(_ParameterCallback):
    """Sets ``parameter`` at the start of each epoch from ``value_at(epoch)``."""

    def __init__(self, parameter, start, end, epochs):
        super().__init__(parameter)
        self.start = _check_value(parameter, start, "start")
        self.end = _check_value(parameter, end, "end")
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs={epochs!r} is invalid; expected an integer >= 1")
        self.epochs = epochs

    def progress(self, epoch):
        """Fraction of the schedule done at ``epoch``: 0 at the first, 1 at ``epochs - 1`` and after."""
        return min(1.0, epoch / max(1, self.epochs - 1))

    def value_at(self, epoch):
        raise NotImplementedError

    def on_epoch_begin(self, epoch, logs=None):
        self._variable().assign(self.value_at(epoch))


class LinearSchedule(EpochSchedule):
    """Moves ``parameter`` linearly from ``start`` to ``end`` over ``epochs``."""

    def value_at(self, epoch):
        return self.start + (self.end - self.start) * self.progress(epoch)


class CosineSchedule(EpochSchedule):
    """Moves ``parameter`` from ``start`` to ``end`` along half a cosine over ``epochs``."""

    def value_at(self, epoch):
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * self.progress(epoch)))


class OnPlateau(_ParameterCallback):
    """Multiplies ``parameter`` by ``factor`` when ``monitor`` stops improving for ``patience`` epochs.

    The value never passes ``limit`` (a floor when ``factor < 1``, a ceiling when > 1).
    """

    def __init__(self, parameter, monitor="val_loss", factor=0.5, patience=2, limit=None, mode="auto", min_delta=0.0):
        super().__init__(parameter)
        if not isinstance(factor, (int, float)) or factor <= 0 or factor == 1:
            raise ValueError(f"factor={factor!r} is invalid; expected a positive number other than 1")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience={patience!r} is invalid; expected an integer >= 0")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode={mode!r} is invalid; expected 'auto', 'min' or 'max'")
        self.monitor, self.factor, self.patience, self.min_delta = monitor, float(factor), patience, min_delta
        if limit is None:
            floor, ceiling = _DEFAULT_LIMITS[parameter]
            limit = ceiling if factor > 1 else floor
        self.limit = _check_value(parameter, limit, "limit")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode
        self._best, self._wait = None, 0

    def _improved(self, value):
        if self._best is None:
            return True
        if self.mode == "min":
            return value < self._best - self.min_delta
        return value > self._best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {}))
            raise ValueError(f"OnPlateau monitors {self.monitor!r}, which is not logged; available: {available}")
        if self._improved(float(value)):
            self._best, self._wait = float(value), 0
            return
        self._wait += 1
        if self._wait > self.patience:
            variable = self._variable()
            bound = min if self.factor > 1 else max
            variable.assign(bound(float(variable.numpy()) * self.factor, self.limit))
            self._wait = 0


def schedule_values(schedule, epochs):
    """The values an ``EpochSchedule`` takes over ``epochs`` epochs, for plots and checks."""
    return np.array([schedule.value_at(e) for e in range(epochs)])
