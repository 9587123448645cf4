"""Deployment: full-int8 TFLite, verification on LiteRT and TFLite Micro, C arrays, an Arduino library.

``tfkd.export.codegen`` is an alias of ``tfkd.codegen.generate`` (the ahead-of-time C generator
lives one layer up, in ``tfkd.codegen``), resolved on first use so that this package never
imports the generator.
"""

from tfkd.export.arduino import write_arduino_library
from tfkd.export.arena import arena_with_margin, measure_arena
from tfkd.export.c_arrays import write_c_arrays
from tfkd.export.model_info import describe
from tfkd.export.tflite import to_tflite
from tfkd.export.verify import verify

__all__ = ["arena_with_margin", "codegen", "describe", "measure_arena", "to_tflite", "verify", "write_arduino_library", "write_c_arrays"]


def __getattr__(name):
    if name == "codegen":
        from tfkd.codegen import generate  # the one arrow up the layers: a kept alias

        return generate
    raise AttributeError(f"module 'tfkd.export' has no attribute {name!r}")
