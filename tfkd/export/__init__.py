"""Deployment: full-int8 TFLite, verification on LiteRT and TFLite Micro, C arrays."""

from tfkd.export.tflite import to_tflite

__all__ = ["to_tflite"]
