"""Float input and output around the int8 graph of a float-I/O model (``to_tflite(..., io="float")``).

Such a model starts with a QUANTIZE (float32 -> int8) of its input and ends with a DEQUANTIZE
(int8 -> float32) of its output. :func:`split` takes those two operators off, so that the int8 graph
between them is generated as usual (``<name>_invoke``, int8 in and out), and :func:`render_source`
writes ``<name>_invoke_float``, which quantises the caller's floats, calls ``<name>_invoke`` and
dequantises its output with TFLite Micro's arithmetic: QUANTIZE divides in float32 by the scale and
rounds half away from zero (``AffineQuantize``); DEQUANTIZE multiplies in double and narrows to float
(``Dequantize``). A QUANTIZE or DEQUANTIZE anywhere else computes in float inside the graph and is refused.
"""

import dataclasses

import numpy as np

from tfkd.model import ModelError

FLOAT = "float32"


@dataclasses.dataclass(frozen=True)
class Side:
    """One float end of the model: its element count and the int8 quantisation it converts to or from."""

    size: int
    scale: float
    zero_point: int


@dataclasses.dataclass(frozen=True)
class FloatBoundary:
    """The float ends of a model; ``input`` or ``output`` is None where that end is int8 already."""

    input: Side = None
    output: Side = None

    @property
    def c_types(self):
        return ("float" if self.input else "int8_t", "float" if self.output else "int8_t")


def _int8_side(model, tensor, op, role):
    side_tensor = model.tensors[op.outputs[0] if role == "input" else op.inputs[0]]
    if side_tensor.dtype != "int8" or len(side_tensor.scales) != 1:
        raise ModelError(f"model {role} {tensor.name!r} is FLOAT32 and its {op.kind} (operator #{op.index}) "
                         f"{'writes' if role == 'input' else 'reads'} {side_tensor.dtype.upper()}; code generation "
                         "needs a per-tensor int8 tensor there")
    return side_tensor, Side(tensor.elements, float(np.float32(side_tensor.scale)), int(side_tensor.zero_point))


# Per end: the operator a float end must have, how to find it, and how the error names the relation.
_ENDS = {"input": ("QUANTIZE", "readers", "read by", "read only by one"),
         "output": ("DEQUANTIZE", "writers", "written by", "written by one")}


def _float_end(model, tensor, role):
    """``(operator, int8 tensor, Side)`` of a float ``role`` ("input" or "output"): the one QUANTIZE that reads a
    float input, or the one DEQUANTIZE that writes a float output (and nothing else reads)."""
    kind, find, relation, allowed = _ENDS[role]
    ops = getattr(model, find)(tensor.index)
    if len(ops) != 1 or ops[0].kind != kind or (role == "output" and model.readers(tensor.index)):
        kinds = ", ".join(f"{op.kind} (operator #{op.index})" for op in ops) or "no operator"
        raise ModelError(f"model {role} {tensor.name!r} is FLOAT32 and {relation} {kinds}; code generation needs an "
                         f"int8 {role}, or a float {role} {allowed} {kind} (convert with "
                         "tfkd.export.to_tflite(..., io='int8') or io='float')")
    side_tensor, side = _int8_side(model, tensor, ops[0], role)
    return ops[0], side_tensor, side


def split(model):
    """Returns ``(graph, boundary)``: ``model`` without the QUANTIZE of a float input and the DEQUANTIZE of a
    float output (a :class:`tfkd.model.TfliteModel` whose input and output are int8), and the
    :class:`FloatBoundary` (None for an int8 model). Raises :class:`ModelError` for any other float end."""
    removed, indices, sides = set(), {}, {}
    for role, tensor in (("input", model.inputs[0]), ("output", model.outputs[0])):
        indices[role], sides[role] = tensor.index, None
        if tensor.dtype == FLOAT:
            op, side_tensor, sides[role] = _float_end(model, tensor, role)
            removed.add(op.index)
            indices[role] = side_tensor.index
    if not removed:
        return model, None
    graph = dataclasses.replace(model, operators=[op for op in model.operators if op.index not in removed],
                                input_indices=[indices["input"]], output_indices=[indices["output"]])
    return graph, FloatBoundary(sides["input"], sides["output"])


def _float(value):
    # Nine significant digits give back the same float32.
    return f"{float(value):.9g}f"


def declaration(name, boundary):
    """The prototype and its comment, for ``<name>.h``."""
    in_type, out_type = boundary.c_types
    return (f"/* Float I/O, as the .tflite model's own ends: quantises the input as TFLite Micro's QUANTIZE\n"
            f" * does, runs {name}_invoke and dequantises its output as DEQUANTIZE does. Returns 0, or -1 when\n"
            f" * input or output is NULL. Not reentrant. */\n"
            f"int {name}_invoke_float(const {in_type} *input, {out_type} *output);\n")


def render_source(name, boundary, input_size, output_size, input_in_arena):
    """``<name>_float_io.c``: ``<name>_invoke_float`` around ``<name>_invoke`` (``input_in_arena``: the int8
    input has a place in the arena, ``<name>_input()``)."""
    in_type, out_type = boundary.c_types
    lines = ["/* Generated by tfkd codegen. Do not edit. */", f'#include "{name}.h"', "", "#include <stddef.h>", "",
             '#include "tfkd_kernels.h"', ""]
    if boundary.input and not input_in_arena:
        lines.append(f"static int8_t {name}_int8_input[{input_size}];")
    if boundary.output:
        lines.append(f"static int8_t {name}_int8_output[{output_size}];")
    # Quantised straight into the input's place in the arena when it has one: no buffer, no copy.
    int8_in = (f"{name}_input()" if input_in_arena else f"{name}_int8_input") if boundary.input else "input"
    int8_out = f"{name}_int8_output" if boundary.output else "output"
    lines += ["", f"int {name}_invoke_float(const {in_type} *input, {out_type} *output) {{",
              "  if (input == NULL || output == NULL) return -1;"]
    if boundary.input:
        side = boundary.input
        lines.append(f"  tfkd_quantize_float(input, {side.size}, {_float(side.scale)}, {side.zero_point}, {int8_in});")
    lines.append(f"  if ({name}_invoke({int8_in}, {int8_out}) != 0) return -1;")
    if boundary.output:
        side = boundary.output
        lines.append(f"  tfkd_dequantize({int8_out}, {side.size}, {_float(side.scale)}, {side.zero_point}, output);")
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)

