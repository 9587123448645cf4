"""Deployment: full-int8 TFLite, verification on LiteRT and TFLite Micro, C arrays, an Arduino library, ahead-of-time C."""

from tfkd.codegen import generate as codegen
from tfkd.export.arduino import write_arduino_library
from tfkd.export.arena import arena_with_margin, measure_arena
from tfkd.export.c_arrays import write_c_arrays
from tfkd.export.model_info import describe
from tfkd.export.tflite import to_tflite
from tfkd.export.verify import verify

__all__ = ["arena_with_margin", "codegen", "describe", "measure_arena", "to_tflite", "verify", "write_arduino_library", "write_c_arrays"]
