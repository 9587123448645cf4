"""``describe``: a TFLite model as :class:`tfkd.model.TfliteModel`, with its TFLite Micro arena measured.

Reading lives in :mod:`tfkd.model`; ``parse`` is kept as the name older callers import.
"""

from tfkd.export.arena import measure_arena as _measure_arena
from tfkd.model import read_model

parse = read_model


def describe(tflite_bytes, measure_arena=True):
    """:func:`tfkd.model.read_model`, plus ``arena_bytes`` measured by :func:`tfkd.export.measure_arena`."""
    info = read_model(tflite_bytes)
    if measure_arena:
        info.arena_bytes = _measure_arena(tflite_bytes)
    return info
