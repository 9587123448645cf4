"""Lowering each TFLite operator to calls of integer C kernels with their constant parameters.

A :class:`Step` (``checks.py``) says which kernel runs, with which parameter struct, and which
arguments it takes: graph tensors (activations or constant weights) and arrays derived at
generation time (per-channel multipliers and shifts, look-up tables). RESHAPE, SQUEEZE and
EXPAND_DIMS lower to no kernel: their output aliases their input's memory. Every check that
TFLite Micro would make at Prepare time is made here, so that the C never validates anything at
run time. This module dispatches; ``lower_windowed.py`` and ``lower_tensor.py`` lower the operators.
"""

from tfkd.codegen import checks, dilation, float_io, lower_tensor, lower_windowed
from tfkd.codegen.checks import Step  # noqa: F401  (the lowered form, re-exported)
from tfkd.model import ModelError, read_model
from tfkd.model import dilation as model_dilation

# Kernel C sources (package data in tfkd/codegen/kernels) that each supported operator needs.
KERNEL_SOURCES = {
    "CONV_2D": "tfkd_conv2d.c",
    "DEPTHWISE_CONV_2D": "tfkd_depthwise_conv2d.c",
    "FULLY_CONNECTED": "tfkd_fully_connected.c",
    "MAX_POOL_2D": "tfkd_pooling.c",
    "AVERAGE_POOL_2D": "tfkd_pooling.c",
    "ADD": "tfkd_add.c",
    "SUB": "tfkd_add.c",
    "MUL": "tfkd_mul.c",
    "RESHAPE": None,
    "SQUEEZE": None,
    "EXPAND_DIMS": None,
    "LOGISTIC": "tfkd_lut.c",
    "TANH": "tfkd_lut.c",
    "RELU": "tfkd_lut.c",
    "RELU6": "tfkd_lut.c",
    "LEAKY_RELU": "tfkd_lut.c",
    "HARD_SWISH": "tfkd_lut.c",
    "QUANTIZE": "tfkd_lut.c",
    "SOFTMAX": "tfkd_softmax.c",
    "MEAN": "tfkd_mean.c",
    "PAD": "tfkd_pad.c",
    "PADV2": "tfkd_pad.c",
    "CONCATENATION": "tfkd_copy.c",
    "TRANSPOSE_CONV": "tfkd_transpose_conv.c",
    "STRIDED_SLICE": "tfkd_copy.c",
}
SUPPORTED_OPERATORS = tuple(KERNEL_SOURCES)


def read_graph(tflite_bytes):
    """:func:`tfkd.model.read_model` and the checks code generation needs before lowering anything.

    Returns ``(graph, boundary)``: the int8 graph to generate and the :class:`float_io.FloatBoundary` of a
    float-I/O model (its input QUANTIZE and output DEQUANTIZE, taken off the graph), or None."""
    model = read_model(tflite_bytes)
    if model.subgraph_count != 1:
        raise ModelError(f"model has {model.subgraph_count} subgraphs; code generation supports exactly 1")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "code generation supports exactly one of each")
    graph, boundary = float_io.split(model)
    for role, tensor in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        if tensor.dtype != "int8":
            raise ModelError(f"model {role} {tensor.name!r} is {tensor.dtype.upper()}; code generation needs an int8 "
                             f"{role} (convert with tfkd.export.to_tflite(..., io='int8'))")
    float_ops = graph.float_operators(include_boundary=True)
    if float_ops:
        named = ", ".join(f"{op.name} (operator #{op.index})" for op in float_ops[:5])
        raise ModelError(f"model computes in float32 at {named}; code generation needs a full-int8 model "
                         "(convert with tfkd.export.to_tflite)")
    if not graph.operators:
        raise ModelError("model has no operators")
    return graph, boundary


def read_int8_model(tflite_bytes):
    """The int8 graph of :func:`read_graph` (without the float ends of a float-I/O model)."""
    return read_graph(tflite_bytes)[0]


def lower(graph):
    """Returns the :class:`Step` list of ``graph`` in execution order (one per operator; one per input of a
    CONCATENATION); :class:`ModelError` names any unsupported operator, its index and the supported list.
    A dilated convolution the converter split into SPACE_TO_BATCH_ND, the convolution and BATCH_TO_SPACE_ND
    is one step (:mod:`tfkd.codegen.dilation`), taken where the last of the three runs."""
    steps = []
    sandwiches = model_dilation.sandwiches(graph)
    folded = {op.index for ops in sandwiches.values() for op in ops}
    for op in graph.operators:
        if op.index in sandwiches:
            steps.append(dilation.lower(graph, *sandwiches[op.index]))
            continue
        if op.index in folded:
            continue
        if op.kind not in KERNEL_SOURCES:
            raise ModelError(
                f"operator {op.kind} (operator #{op.index}) is not supported by tfkd codegen; "
                f"supported: {', '.join(SUPPORTED_OPERATORS)}"
            )
        if len(op.outputs) != 1:
            raise ModelError(f"{checks.describe(op)} has {len(op.outputs)} outputs; expected 1")
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            steps.append(lower_windowed.conv_like(graph, op, depthwise=op.kind == "DEPTHWISE_CONV_2D"))
        elif op.kind == "FULLY_CONNECTED":
            steps.append(lower_windowed.fully_connected(graph, op))
        elif op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            steps.append(lower_windowed.pool(graph, op, average=op.kind == "AVERAGE_POOL_2D"))
        elif op.kind in ("ADD", "SUB"):
            steps.append(lower_tensor.add(graph, op, subtract=op.kind == "SUB"))
        elif op.kind == "MUL":
            steps.append(lower_tensor.mul(graph, op))
        elif op.kind in ("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "QUANTIZE"):
            steps.append(lower_tensor.lut(graph, op))
        elif op.kind == "SOFTMAX":
            steps.append(lower_tensor.softmax(graph, op))
        elif op.kind == "MEAN":
            steps.append(lower_tensor.mean(graph, op))
        elif op.kind in ("PAD", "PADV2"):
            steps.append(lower_tensor.pad_op(graph, op))
        elif op.kind == "CONCATENATION":
            steps.extend(lower_tensor.concatenation(graph, op))
        elif op.kind == "TRANSPOSE_CONV":
            steps.append(lower_windowed.transpose_conv(graph, op))
        elif op.kind == "STRIDED_SLICE":
            steps.append(lower_tensor.strided_slice(graph, op))
        else:
            steps.append(lower_tensor.reshape(graph, op))
    return steps
