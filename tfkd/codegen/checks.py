"""What every lowering shares: the :class:`Step` a TFLite operator becomes and the checks TFLite Micro
makes at Prepare time (tensor types and ranks, constant weights, fused activations, window geometry,
broadcasting), each raising :class:`tfkd.model.ModelError` naming the operator and its index."""

import dataclasses

import numpy as np

from tfkd.model import ModelError
from tfkd.model.schema import ACTIVATION_NAMES as _ACTIVATIONS, schema


@dataclasses.dataclass
class Step:
    """One kernel call. ``args`` holds ("tensor", index), ("array", c_type, values, role) or ("null",) items,
    passed after the parameter struct and before the output pointer."""

    operator: object
    function: str
    params_type: str
    params: dict
    args: list
    output: int
    macs: int = 0

    @property
    def kind(self):
        return self.operator.kind


def describe(op):
    return f"{op.kind} (operator #{op.index})"


def activation(op, code):
    name = _ACTIVATIONS.get(code, str(code))
    if name not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise ModelError(f"{describe(op)} has fused activation {name}, which code generation does not support")
    return name


def int8_activation(graph, op, index, role, rank=None):
    if index < 0:
        raise ModelError(f"{describe(op)} is missing its {role} tensor")
    tensor = graph.tensors[index]
    if tensor.dtype != "int8":
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} is {tensor.dtype}; only int8 tensors are supported")
    if len(tensor.scales) != 1:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} is not per-tensor quantised")
    if rank is not None and len(tensor.shape) != rank:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} has shape {tensor.shape}; expected rank {rank}")
    if rank == 4 and tensor.shape[0] != 1:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} has batch {tensor.shape[0]}; only batch 1 is supported")
    return tensor


def constant(graph, op, index, role, dtype, rank):
    tensor = graph.tensors[index]
    if tensor.data is None:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} is not a constant; only constant {role}s are supported")
    if tensor.dtype != dtype:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} is {tensor.dtype}; expected {dtype}")
    if len(tensor.shape) != rank:
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} has shape {tensor.shape}; expected rank {rank}")
    if dtype == "int8" and np.any(tensor.zero_points != 0):
        raise ModelError(f"{describe(op)} {role} {tensor.name!r} has a nonzero zero point; int8 weights must be symmetric")
    return tensor


def bias_arg(graph, op, output_depth, position=2):
    if len(op.inputs) <= position or op.inputs[position] < 0:
        return ("null",)
    bias = constant(graph, op, op.inputs[position], "bias", "int32", 1)
    if bias.shape[0] != output_depth:
        raise ModelError(f"{describe(op)} bias has {bias.shape[0]} values; expected {output_depth}")
    return ("tensor", bias.index)


def windowed_size(padding, size, filter_size, stride, dilation):
    effective = (filter_size - 1) * dilation + 1
    if padding == schema.Padding.SAME:
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


def pad(size, filter_size, stride, dilation, out_size):
    # TFLite's ComputePaddingWithOffset: the odd pixel of total padding goes after, not before.
    effective = (filter_size - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + effective - size) // 2


def padding_name(code):
    if code == schema.Padding.SAME:
        return "SAME"
    if code == schema.Padding.VALID:
        return "VALID"
    raise ModelError(f"padding code {code} is invalid; expected SAME or VALID")


def window(op, inp, out, filter_h, filter_w, o, dilation_h=1, dilation_w=1):
    """Checks the output size against TFLite's rule and returns the geometry fields of a params struct."""
    padding_name(o.padding)
    if min(o.strideH, o.strideW, filter_h, filter_w, dilation_h, dilation_w) < 1:
        raise ModelError(f"{describe(op)} has a stride, window or dilation below 1")
    geometry = {}
    for axis, size, out_size, f, stride, dilation in (
        ("height", inp.shape[1], out.shape[1], filter_h, o.strideH, dilation_h),
        ("width", inp.shape[2], out.shape[2], filter_w, o.strideW, dilation_w),
    ):
        expected = windowed_size(o.padding, size, f, stride, dilation)
        if expected != out_size:
            raise ModelError(
                f"{describe(op)} output {axis} is {out_size}, but {padding_name(o.padding)} padding "
                f"of {size} by a window of {f} with stride {stride} gives {expected}"
            )
        geometry[f"stride_{axis}"] = stride
        geometry[f"pad_{axis}"] = pad(size, f, stride, dilation, out_size)
    return geometry


def broadcast_strides(op, shape, out_shape):
    """Element strides of ``shape`` (right-aligned to rank 4) over ``out_shape``; 0 where it repeats."""
    padded = (1,) * (4 - len(shape)) + tuple(shape)
    strides, step = [0] * 4, 1
    for axis in range(3, -1, -1):
        if padded[axis] == out_shape[axis]:
            strides[axis] = step if padded[axis] > 1 else 0
        elif padded[axis] != 1:
            raise ModelError(f"{describe(op)} cannot broadcast shape {tuple(shape)} to {tuple(out_shape)}")
        step *= padded[axis]
    return strides


def binary_inputs(graph, op):
    if len(op.inputs) != 2:
        raise ModelError(f"{describe(op)} has {len(op.inputs)} inputs; expected 2")
    inputs = []
    for k, index in enumerate(op.inputs):
        tensor = graph.tensors[index]
        if tensor.data is None:
            tensor = int8_activation(graph, op, index, f"input {k + 1}")
        elif tensor.dtype != "int8" or len(tensor.scales) != 1:
            raise ModelError(f"{describe(op)} constant input {tensor.name!r} is not per-tensor int8")
        inputs.append(tensor)
    out = int8_activation(graph, op, op.outputs[0], "output")
    if len(out.shape) > 4:
        raise ModelError(f"{describe(op)} output has rank {len(out.shape)}; at most 4 is supported")
    out_shape = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    return inputs, out, out_shape
