"""Reading TFLite models and running them: the layer everything else in tfkd builds on.

- :func:`read_model` -> :class:`TfliteModel` (tensors, operators, quantization, sizes), after checking
  the flatbuffer; a corrupt or unusable file raises :class:`ModelError` (a ValueError).
- :func:`quantize` / :func:`dequantize`: float <-> integer with TFLite's rounding.
- :class:`LiteRTRunner`, :class:`TflmRunner` (and ``tfkd.codegen.runners`` for generated C): one
  ``run(samples)`` interface.

This package imports nothing from tfkd but tfkd.errors, so any layer may use it.
"""

from tfkd.model.errors import ModelError
from tfkd.model.quantize import dequantize, quantize, round_half_away
from tfkd.model.reader import Operator, Tensor, TfliteModel, check_flatbuffer, read_model
from tfkd.model.runners import LiteRTRunner, Runner, TflmRunner

__all__ = ["LiteRTRunner", "ModelError", "Operator", "Runner", "Tensor", "TfliteModel", "TflmRunner",
           "check_flatbuffer", "dequantize", "quantize", "read_model", "round_half_away"]
