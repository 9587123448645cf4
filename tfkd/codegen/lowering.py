"""Lowering each TFLite operator to one call of an integer C kernel with its constant parameters.

A :class:`Step` says which kernel runs, with which parameter struct, and which arguments it
takes: graph tensors (activations or constant weights) and arrays derived here (per-channel
multipliers and shifts). RESHAPE lowers to no kernel: its output aliases its input's memory.
Every check that TFLite Micro would make at Prepare time is made here, so that the C never
needs to validate anything at run time.
"""

import dataclasses

import numpy as np
from tfkd.codegen import quantization, tables
from tfkd.model import ModelError, read_model
from tfkd.model.schema import ACTIVATION_NAMES as _ACTIVATIONS, schema

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


def _describe(op):
    return f"{op.kind} (operator #{op.index})"


def _activation(op, code):
    name = _ACTIVATIONS.get(code, str(code))
    if name not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise ModelError(f"{_describe(op)} has fused activation {name}, which code generation does not support")
    return name


def _int8_activation(graph, op, index, role, rank=None):
    if index < 0:
        raise ModelError(f"{_describe(op)} is missing its {role} tensor")
    tensor = graph.tensors[index]
    if tensor.dtype != "int8":
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} is {tensor.dtype}; only int8 tensors are supported")
    if len(tensor.scales) != 1:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} is not per-tensor quantised")
    if rank is not None and len(tensor.shape) != rank:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} has shape {tensor.shape}; expected rank {rank}")
    if rank == 4 and tensor.shape[0] != 1:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} has batch {tensor.shape[0]}; only batch 1 is supported")
    return tensor


def _constant(graph, op, index, role, dtype, rank):
    tensor = graph.tensors[index]
    if tensor.data is None:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} is not a constant; only constant {role}s are supported")
    if tensor.dtype != dtype:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} is {tensor.dtype}; expected {dtype}")
    if len(tensor.shape) != rank:
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} has shape {tensor.shape}; expected rank {rank}")
    if dtype == "int8" and np.any(tensor.zero_points != 0):
        raise ModelError(f"{_describe(op)} {role} {tensor.name!r} has a nonzero zero point; int8 weights must be symmetric")
    return tensor


def _bias_arg(graph, op, output_depth, position=2):
    if len(op.inputs) <= position or op.inputs[position] < 0:
        return ("null",)
    bias = _constant(graph, op, op.inputs[position], "bias", "int32", 1)
    if bias.shape[0] != output_depth:
        raise ModelError(f"{_describe(op)} bias has {bias.shape[0]} values; expected {output_depth}")
    return ("tensor", bias.index)


def _out_size(padding, size, filter_size, stride, dilation):
    effective = (filter_size - 1) * dilation + 1
    if padding == schema.Padding.SAME:
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


def _pad(size, filter_size, stride, dilation, out_size):
    # TFLite's ComputePaddingWithOffset: the odd pixel of total padding goes after, not before.
    effective = (filter_size - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + effective - size) // 2


def _padding_name(code):
    if code == schema.Padding.SAME:
        return "SAME"
    if code == schema.Padding.VALID:
        return "VALID"
    raise ModelError(f"padding code {code} is invalid; expected SAME or VALID")


def _window(op, inp, out, filter_h, filter_w, o, dilation_h=1, dilation_w=1):
    """Checks the output size against TFLite's rule and returns the geometry fields of a params struct."""
    _padding_name(o.padding)
    if min(o.strideH, o.strideW, filter_h, filter_w, dilation_h, dilation_w) < 1:
        raise ModelError(f"{_describe(op)} has a stride, window or dilation below 1")
    geometry = {}
    for axis, size, out_size, f, stride, dilation in (
        ("height", inp.shape[1], out.shape[1], filter_h, o.strideH, dilation_h),
        ("width", inp.shape[2], out.shape[2], filter_w, o.strideW, dilation_w),
    ):
        expected = _out_size(o.padding, size, f, stride, dilation)
        if expected != out_size:
            raise ModelError(
                f"{_describe(op)} output {axis} is {out_size}, but {_padding_name(o.padding)} padding "
                f"of {size} by a window of {f} with stride {stride} gives {expected}"
            )
        geometry[f"stride_{axis}"] = stride
        geometry[f"pad_{axis}"] = _pad(size, f, stride, dilation, out_size)
    return geometry


def _conv_like(graph, op, depthwise):
    inp = _int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = _int8_activation(graph, op, op.outputs[0], "output", rank=4)
    filt = _constant(graph, op, op.inputs[1], "filter", "int8", 4)
    o = op.options
    in_depth, out_depth = inp.shape[3], out.shape[3]
    if depthwise:
        if filt.shape[0] != 1 or filt.shape[3] != out_depth or out_depth % in_depth:
            raise ModelError(
                f"{_describe(op)} filter shape {filt.shape} does not fit input depth {in_depth} and output depth {out_depth}"
            )
        _, filter_h, filter_w, _ = filt.shape
        depth_multiplier = out_depth // in_depth
    else:
        if filt.shape[0] != out_depth or filt.shape[3] != in_depth:
            raise ModelError(
                f"{_describe(op)} filter shape {filt.shape} does not fit input depth {in_depth} and output depth "
                f"{out_depth} (grouped convolutions are not supported)"
            )
        _, filter_h, filter_w, _ = filt.shape
        depth_multiplier = 1
    dilation_h, dilation_w = o.dilationHFactor or 1, o.dilationWFactor or 1
    geometry = _window(op, inp, out, filter_h, filter_w, o, dilation_h, dilation_w)
    quantized_axis = 3 if depthwise else 0
    if len(filt.scales) > 1 and filt.quantized_dimension != quantized_axis:
        raise ModelError(f"{_describe(op)} filter is quantised along axis {filt.quantized_dimension}; expected {quantized_axis}")
    multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, out_depth)
    low, high = quantization.activation_range(_activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], input_depth=in_depth,
        output_height=out.shape[1], output_width=out.shape[2], output_depth=out_depth,
        filter_height=filter_h, filter_width=filter_w,
        dilation_height=dilation_h, dilation_width=dilation_w,
        depth_multiplier=depth_multiplier,
        input_offset=-inp.zero_point, output_offset=out.zero_point,
        activation_min=low, activation_max=high, **geometry,
    )
    taps = filter_h * filter_w * (1 if depthwise else in_depth)
    return Step(
        op, "tfkd_depthwise_conv2d" if depthwise else "tfkd_conv2d", "tfkd_conv_params", params,
        [("tensor", inp.index), ("tensor", filt.index), _bias_arg(graph, op, out_depth),
         ("array", "int32_t", multipliers, "multiplier"), ("array", "int32_t", shifts, "shift")],
        out.index, macs=out.shape[1] * out.shape[2] * out_depth * taps,
    )


def _fully_connected(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    filt = _constant(graph, op, op.inputs[1], "filter", "int8", 2)
    o = op.options
    if o.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise ModelError(f"{_describe(op)} uses shuffled weights, which code generation does not support")
    output_depth, accum_depth = filt.shape
    if inp.size % accum_depth:
        raise ModelError(f"{_describe(op)} input of {inp.size} values is not a multiple of the filter depth {accum_depth}")
    batches = inp.size // accum_depth
    if out.size != batches * output_depth:
        raise ModelError(f"{_describe(op)} output has {out.size} values; expected {batches} x {output_depth}")
    if len(filt.scales) > 1:
        multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, output_depth)
    else:
        # The per-tensor path of TFLite Micro derives its multiplier differently (float32 product).
        multiplier, shift = quantization.per_tensor_fc_multiplier(inp.scale, filt.scales[0], out.scale)
        multipliers, shifts = [multiplier] * output_depth, [shift] * output_depth
    low, high = quantization.activation_range(_activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        batches=batches, accum_depth=accum_depth, output_depth=output_depth,
        input_offset=-inp.zero_point, filter_offset=-int(filt.zero_points[0]), output_offset=out.zero_point,
        activation_min=low, activation_max=high,
    )
    return Step(
        op, "tfkd_fully_connected", "tfkd_fully_connected_params", params,
        [("tensor", inp.index), ("tensor", filt.index), _bias_arg(graph, op, output_depth),
         ("array", "int32_t", multipliers, "multiplier"), ("array", "int32_t", shifts, "shift")],
        out.index, macs=batches * output_depth * accum_depth,
    )


def _pool(graph, op, average):
    inp = _int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = _int8_activation(graph, op, op.outputs[0], "output", rank=4)
    o = op.options
    if inp.shape[3] != out.shape[3]:
        raise ModelError(f"{_describe(op)} changes depth from {inp.shape[3]} to {out.shape[3]}")
    geometry = _window(op, inp, out, o.filterHeight, o.filterWidth, o)
    if average:
        # TFLite Micro fails at run time when a window lies wholly in the padding; refuse it here.
        for axis, size, out_size, f in (("height", inp.shape[1], out.shape[1], o.filterHeight),
                                        ("width", inp.shape[2], out.shape[2], o.filterWidth)):
            for i in range(out_size):
                origin = i * geometry[f"stride_{axis}"] - geometry[f"pad_{axis}"]
                if min(f, size - origin) - max(0, -origin) <= 0:
                    raise ModelError(f"{_describe(op)} has an output {axis} position {i} whose window is all padding")
    low, high = quantization.activation_range(_activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], depth=inp.shape[3],
        output_height=out.shape[1], output_width=out.shape[2],
        filter_height=o.filterHeight, filter_width=o.filterWidth,
        activation_min=low, activation_max=high, **geometry,
    )
    function = "tfkd_average_pool" if average else "tfkd_max_pool"
    return Step(op, function, "tfkd_pool_params", params, [("tensor", inp.index)], out.index)


def _broadcast_strides(op, shape, out_shape):
    """Element strides of ``shape`` (right-aligned to rank 4) over ``out_shape``; 0 where it repeats."""
    padded = (1,) * (4 - len(shape)) + tuple(shape)
    strides, step = [0] * 4, 1
    for axis in range(3, -1, -1):
        if padded[axis] == out_shape[axis]:
            strides[axis] = step if padded[axis] > 1 else 0
        elif padded[axis] != 1:
            raise ModelError(f"{_describe(op)} cannot broadcast shape {tuple(shape)} to {tuple(out_shape)}")
        step *= padded[axis]
    return strides


def _add(graph, op, subtract=False):
    inputs, out, out_shape = _binary_inputs(graph, op)
    strides = [_broadcast_strides(op, t.shape, out_shape) for t in inputs]
    if subtract:
        (m1, s1), (m2, s2), (mo, so) = quantization.sub_multipliers(inputs[0].scale, inputs[1].scale, out.scale)
    else:
        (m1, s1), (m2, s2), (mo, so) = quantization.add_multipliers(inputs[0].scale, inputs[1].scale, out.scale)
    low, high = quantization.activation_range(_activation(op, op.options.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        output_dims=list(out_shape), input1_strides=strides[0], input2_strides=strides[1],
        input1_offset=-inputs[0].zero_point, input2_offset=-inputs[1].zero_point, output_offset=out.zero_point,
        subtract=int(subtract), left_shift=quantization.ADD_LEFT_SHIFT,
        input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
        output_multiplier=mo, output_shift=so, activation_min=low, activation_max=high,
    )
    return Step(op, "tfkd_add", "tfkd_add_params", params,
                [("tensor", inputs[0].index), ("tensor", inputs[1].index)], out.index)


def _binary_inputs(graph, op):
    if len(op.inputs) != 2:
        raise ModelError(f"{_describe(op)} has {len(op.inputs)} inputs; expected 2")
    inputs = []
    for k, index in enumerate(op.inputs):
        tensor = graph.tensors[index]
        if tensor.data is None:
            tensor = _int8_activation(graph, op, index, f"input {k + 1}")
        elif tensor.dtype != "int8" or len(tensor.scales) != 1:
            raise ModelError(f"{_describe(op)} constant input {tensor.name!r} is not per-tensor int8")
        inputs.append(tensor)
    out = _int8_activation(graph, op, op.outputs[0], "output")
    if len(out.shape) > 4:
        raise ModelError(f"{_describe(op)} output has rank {len(out.shape)}; at most 4 is supported")
    out_shape = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    return inputs, out, out_shape


def _mul(graph, op):
    inputs, out, out_shape = _binary_inputs(graph, op)
    multiplier, shift = quantization.quantize_multiplier(
        float(inputs[0].scale) * float(inputs[1].scale) / float(out.scale))
    low, high = quantization.activation_range(_activation(op, op.options.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        output_dims=list(out_shape), input1_strides=_broadcast_strides(op, inputs[0].shape, out_shape),
        input2_strides=_broadcast_strides(op, inputs[1].shape, out_shape),
        input1_offset=-inputs[0].zero_point, input2_offset=-inputs[1].zero_point, output_offset=out.zero_point,
        output_multiplier=multiplier, output_shift=shift, activation_min=low, activation_max=high,
    )
    return Step(op, "tfkd_mul", "tfkd_mul_params", params,
                [("tensor", inputs[0].index), ("tensor", inputs[1].index)], out.index, macs=out.size)


def _lut(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    if inp.size != out.size:
        raise ModelError(f"{_describe(op)} maps {inp.size} values onto {out.size}")
    scales = (inp.scale, inp.zero_point, out.scale, out.zero_point)
    if op.kind in ("LOGISTIC", "TANH"):
        expected = (np.float32(1 / 256), -128) if op.kind == "LOGISTIC" else (np.float32(1 / 128), 0)
        if (out.scale, out.zero_point) != expected:
            raise ModelError(f"{_describe(op)} output has scale {float(out.scale)} and zero point {out.zero_point}; "
                             f"TFLite Micro requires {float(expected[0])} and {expected[1]}")
        table = (tables.logistic if op.kind == "LOGISTIC" else tables.tanh)(inp.scale, inp.zero_point)
    elif op.kind == "RELU":
        table = tables.relu(*scales)
    elif op.kind == "RELU6":
        table = tables.relu6(inp.scale, inp.zero_point)
    elif op.kind == "LEAKY_RELU":
        table = tables.leaky_relu(op.options.alpha, *scales)
    elif op.kind == "HARD_SWISH":
        table = tables.hard_swish(*scales)
    else:
        table = tables.requantize(*scales)
    return Step(op, "tfkd_lut", "tfkd_lut_params", dict(size=inp.size),
                [("tensor", inp.index), ("array", "int8_t", table, "table")], out.index)


def _softmax(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    if inp.shape != out.shape or not inp.shape:
        raise ModelError(f"{_describe(op)} maps shape {inp.shape} onto {out.shape}")
    if out.scale != np.float32(1 / 256) or out.zero_point != -128:
        raise ModelError(f"{_describe(op)} output has scale {float(out.scale)} and zero point {out.zero_point}; "
                         "TFLite Micro requires 1/256 and -128")
    exps, max_diff = tables.softmax(np.float32(op.options.beta), inp.scale)
    depth = inp.shape[-1]
    return Step(op, "tfkd_softmax", "tfkd_softmax_params", dict(rows=inp.size // depth, depth=depth, max_diff=max_diff),
                [("tensor", inp.index), ("array", "int32_t", exps, "exps")], out.index)


def _mean(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = _int8_activation(graph, op, op.outputs[0], "output")
    axes = graph.tensors[op.inputs[1]]
    if axes.data is None:
        raise ModelError(f"{_describe(op)} axes are not constant; only constant axes are supported")
    resolved = sorted({int(a) % 4 for a in axes.data.reshape(-1)})
    if resolved != [1, 2]:
        raise ModelError(f"{_describe(op)} averages over axes {resolved}; code generation supports the spatial axes [1, 2]")
    _, height, width, depth = inp.shape
    if out.size != depth:
        raise ModelError(f"{_describe(op)} output has {out.size} values; expected {depth}")
    multiplier, shift = quantization.quantize_multiplier(float(inp.scale) / float(out.scale))
    count = height * width
    # TFLite Micro folds the division by the element count into the multiplier (reduce.h).
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << extra) // count if extra >= 0 else multiplier
    params = dict(height=height, width=width, depth=depth, input_zero_point=inp.zero_point,
                  output_offset=out.zero_point, multiplier=multiplier, shift=shift - extra)
    return Step(op, "tfkd_mean", "tfkd_mean_params", params, [("tensor", inp.index)], out.index, macs=inp.size)


def _pad_op(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    paddings = graph.tensors[op.inputs[1]]
    if paddings.data is None or len(inp.shape) > 4 or paddings.data.shape != (len(inp.shape), 2):
        raise ModelError(f"{_describe(op)} paddings must be a constant [rank, 2] tensor for an input of rank <= 4")
    pad_value = out.zero_point
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        constant = graph.tensors[op.inputs[2]]
        if constant.data is None or constant.dtype != "int8" or constant.zero_point != out.zero_point \
                or constant.scale != out.scale:
            raise ModelError(f"{_describe(op)} pad value must be a constant on the output's quantization")
        pad_value = int(constant.data.reshape(-1)[0])
    lead = 4 - len(inp.shape)
    before = [0] * lead + [int(p) for p in paddings.data[:, 0]]
    in_dims = [1] * lead + list(inp.shape)
    out_dims = [1] * lead + list(out.shape)
    if [i + int(a) + int(b) for i, (a, b) in zip(in_dims, [(0, 0)] * lead + paddings.data.tolist())] != out_dims \
            or min(int(v) for v in paddings.data.reshape(-1)) < 0:
        raise ModelError(f"{_describe(op)} paddings {paddings.data.tolist()} do not take {inp.shape} to {out.shape}")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ModelError(f"{_describe(op)} changes quantization; TFLite Micro's PAD copies values unchanged")
    params = dict(output_dims=out_dims, input_dims=in_dims, before=before, pad_value=pad_value)
    return Step(op, "tfkd_pad", "tfkd_pad_params", params, [("tensor", inp.index)], out.index)


def _concatenation(graph, op):
    out = _int8_activation(graph, op, op.outputs[0], "output")
    axis = op.options.axis % len(out.shape) if out.shape else 0
    rows = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    if _activation(op, op.options.fusedActivationFunction) != "NONE":
        raise ModelError(f"{_describe(op)} has a fused activation; TFLite Micro's int8 CONCATENATION has none")
    steps, offset = [], 0
    for k, index in enumerate(op.inputs):
        inp = graph.tensors[index]
        if inp.data is not None:
            raise ModelError(f"{_describe(op)} input {k + 1} is a constant; only activations are supported")
        inp = _int8_activation(graph, op, index, f"input {k + 1}")
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            raise ModelError(f"{_describe(op)} input {k + 1} is quantized differently from the output; "
                             "TFLite Micro's int8 CONCATENATION requires equal scales and zero points")
        if len(inp.shape) != len(out.shape):
            raise ModelError(f"{_describe(op)} input {k + 1} has rank {len(inp.shape)}; expected {len(out.shape)}")
        row_size = inp.shape[axis] * inner
        params = dict(rows=rows, row_size=row_size, output_row_size=out.shape[axis] * inner, output_offset=offset)
        steps.append(Step(op, "tfkd_copy", "tfkd_copy_params", params, [("tensor", inp.index)], out.index))
        offset += row_size
    if offset != out.shape[axis] * inner:
        raise ModelError(f"{_describe(op)} inputs fill {offset} of {out.shape[axis] * inner} values per row")
    return steps


def _transpose_conv(graph, op):
    if len(op.inputs) not in (3, 4):
        raise ModelError(f"{_describe(op)} has {len(op.inputs)} inputs; expected 3 or 4")
    inp = _int8_activation(graph, op, op.inputs[2], "input", rank=4)
    out = _int8_activation(graph, op, op.outputs[0], "output", rank=4)
    filt = _constant(graph, op, op.inputs[1], "filter", "int8", 4)
    o = op.options
    out_depth, filter_h, filter_w, in_depth = filt.shape
    if out.shape[3] != out_depth or inp.shape[3] != in_depth:
        raise ModelError(f"{_describe(op)} filter shape {filt.shape} does not fit input {inp.shape} and output {out.shape}")
    if min(o.strideH, o.strideW) < 1:
        raise ModelError(f"{_describe(op)} has a stride below 1")
    geometry = {}
    # TFLite Micro derives the padding from the output size, as for a convolution from output to input.
    for axis, in_size, size, f, stride in (("height", inp.shape[1], out.shape[1], filter_h, o.strideH),
                                           ("width", inp.shape[2], out.shape[2], filter_w, o.strideW)):
        expected_in = _out_size(o.padding, size, f, stride, 1)
        if expected_in != in_size:
            raise ModelError(f"{_describe(op)} input {axis} is {in_size}, but {_padding_name(o.padding)} padding of "
                             f"output {size} by a window of {f} with stride {stride} gives {expected_in}")
        geometry[f"stride_{axis}"] = stride
        geometry[f"pad_{axis}"] = _pad(size, f, stride, 1, expected_in)
    if len(filt.scales) > 1 and filt.quantized_dimension != 0:
        raise ModelError(f"{_describe(op)} filter is quantised along axis {filt.quantized_dimension}; expected 0")
    multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, out_depth)
    low, high = quantization.activation_range(_activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    bias = _bias_arg(graph, op, out_depth, position=3)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], input_depth=in_depth,
        output_height=out.shape[1], output_width=out.shape[2], output_depth=out_depth,
        filter_height=filter_h, filter_width=filter_w, dilation_height=1, dilation_width=1, depth_multiplier=1,
        input_offset=-inp.zero_point, output_offset=out.zero_point, activation_min=low, activation_max=high,
        **geometry,
    )
    return Step(op, "tfkd_transpose_conv", "tfkd_conv_params", params,
                [("tensor", inp.index), ("tensor", filt.index), bias,
                 ("array", "int32_t", multipliers, "multiplier"), ("array", "int32_t", shifts, "shift")],
                out.index, macs=inp.shape[1] * inp.shape[2] * in_depth * filter_h * filter_w * out_depth)


def _strided_slice(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    rank = len(inp.shape)
    vectors = []
    for k, role in ((1, "begin"), (2, "end"), (3, "strides")):
        tensor = graph.tensors[op.inputs[k]] if len(op.inputs) > k and op.inputs[k] >= 0 else None
        if tensor is None or tensor.data is None or tensor.data.shape != (rank,):
            raise ModelError(f"{_describe(op)} {role} must be a constant vector of {rank} values")
        vectors.append([int(v) for v in tensor.data])
    begin, end, strides = vectors
    o = op.options
    if rank > 4 or o.ellipsisMask or o.newAxisMask:
        raise ModelError(f"{_describe(op)} uses rank {rank}, an ellipsis or a new axis; code generation supports "
                         "slices of up to 4 dimensions")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ModelError(f"{_describe(op)} changes quantization; TFLite Micro's STRIDED_SLICE copies values unchanged")
    starts, steps, counts = [], [], []
    for axis, size in enumerate(inp.shape):
        if 0 in strides:
            raise ModelError(f"{_describe(op)} has a zero stride")
        b = None if o.beginMask >> axis & 1 else begin[axis]
        e = None if o.endMask >> axis & 1 else (begin[axis] + end[axis] if getattr(o, "offset", False) else end[axis])
        if o.shrinkAxisMask >> axis & 1:
            index = begin[axis] + size if begin[axis] < 0 else begin[axis]
            if not 0 <= index < size:
                raise ModelError(f"{_describe(op)} index {begin[axis]} is outside axis {axis} of size {size}")
            selected = range(index, index + 1)
        else:
            # TensorFlow's slice rules are Python's: clamp to the axis, empty when they cross.
            selected = range(*slice(b, e, strides[axis]).indices(size))
        starts.append(selected.start)
        steps.append(selected.step)
        counts.append(len(selected))
    if int(np.prod(counts)) != out.size:
        raise ModelError(f"{_describe(op)} selects {int(np.prod(counts))} values; its output has {out.size}")
    lead = 4 - rank
    dims = [1] * lead + list(inp.shape)
    input_strides = [int(np.prod(dims[d + 1:], dtype=np.int64)) for d in range(4)]
    params = dict(output_dims=[1] * lead + counts, start=[0] * lead + starts, step=[1] * lead + steps,
                  input_strides=input_strides)
    return Step(op, "tfkd_strided_slice", "tfkd_slice_params", params, [("tensor", inp.index)], out.index)


def _reshape(graph, op):
    inp = _int8_activation(graph, op, op.inputs[0], "input")
    out = _int8_activation(graph, op, op.outputs[0], "output")
    if inp.size != out.size:
        raise ModelError(f"{_describe(op)} maps {inp.size} values onto {out.size}")
    return Step(op, None, None, {}, [("tensor", inp.index)], out.index)


def read_int8_model(tflite_bytes):
    """:func:`tfkd.model.read_model`, plus the checks code generation needs before lowering anything."""
    model = read_model(tflite_bytes)
    if model.subgraph_count != 1:
        raise ModelError(f"model has {model.subgraph_count} subgraphs; code generation supports exactly 1")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "code generation supports exactly one of each")
    for role, tensor in (("input", model.inputs[0]), ("output", model.outputs[0])):
        if tensor.dtype != "int8":
            raise ModelError(f"model {role} {tensor.name!r} is {tensor.dtype.upper()}; code generation needs an int8 "
                             f"{role} (convert with tfkd.export.to_tflite(..., io='int8'))")
    float_ops = model.float_operators()
    if float_ops:
        named = ", ".join(f"{op.name} (operator #{op.index})" for op in float_ops[:5])
        raise ModelError(f"model computes in float32 at {named}; code generation needs a full-int8 model "
                         "(convert with tfkd.export.to_tflite)")
    if not model.operators:
        raise ModelError("model has no operators")
    return model


def lower(graph):
    """Returns one :class:`Step` per operator, in execution order; ValueError names any unsupported operator."""
    steps = []
    for op in graph.operators:
        if op.kind not in KERNEL_SOURCES:
            raise ModelError(
                f"operator {op.kind} (operator #{op.index}) is not supported by tfkd codegen; "
                f"supported: {', '.join(SUPPORTED_OPERATORS)}"
            )
        if len(op.outputs) != 1:
            raise ModelError(f"{_describe(op)} has {len(op.outputs)} outputs; expected 1")
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            steps.append(_conv_like(graph, op, depthwise=op.kind == "DEPTHWISE_CONV_2D"))
        elif op.kind == "FULLY_CONNECTED":
            steps.append(_fully_connected(graph, op))
        elif op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            steps.append(_pool(graph, op, average=op.kind == "AVERAGE_POOL_2D"))
        elif op.kind in ("ADD", "SUB"):
            steps.append(_add(graph, op, subtract=op.kind == "SUB"))
        elif op.kind == "MUL":
            steps.append(_mul(graph, op))
        elif op.kind in ("LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "QUANTIZE"):
            steps.append(_lut(graph, op))
        elif op.kind == "SOFTMAX":
            steps.append(_softmax(graph, op))
        elif op.kind == "MEAN":
            steps.append(_mean(graph, op))
        elif op.kind in ("PAD", "PADV2"):
            steps.append(_pad_op(graph, op))
        elif op.kind == "CONCATENATION":
            steps.extend(_concatenation(graph, op))
        elif op.kind == "TRANSPOSE_CONV":
            steps.append(_transpose_conv(graph, op))
        elif op.kind == "STRIDED_SLICE":
            steps.append(_strided_slice(graph, op))
        else:
            steps.append(_reshape(graph, op))
    return steps
