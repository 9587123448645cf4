"""Ahead-of-time C code generation for int8 TFLite models, bit-exact with TFLite Micro.

``generate(tflite_bytes, out_dir, name)`` writes plain C99 with no runtime: weights as
const arrays, a static activation arena planned at export time and one
``int <name>_invoke(const int8_t *input, int8_t *output)``. ``host`` compiles and runs that
code on the build machine, ``cortex_m4`` builds and runs it on an emulated Cortex-M4
(QEMU mps2-an386), and ``measure`` reports flash, RAM and instruction counts there; ``HostRunner`` and ``QemuRunner``
run it behind :class:`tfkd.model.Runner`.
"""

from tfkd.codegen.footprint import measure
from tfkd.codegen.generator import compile_model, generate
from tfkd.codegen.lowering import SUPPORTED_OPERATORS, read_int8_model
from tfkd.codegen.runners import HostRunner, QemuRunner

__all__ = ["SUPPORTED_OPERATORS", "HostRunner", "QemuRunner", "compile_model", "generate", "measure", "read_int8_model"]
