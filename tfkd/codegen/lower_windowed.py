"""Lowering of the windowed operators: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED and pooling."""

import numpy as np

from tfkd.codegen import quantization
from tfkd.codegen.checks import (Step, activation, bias_arg, constant, describe, int8_activation, pad,
                                 padding_name, window, windowed_size)
from tfkd.model import ModelError
from tfkd.model.schema import schema


def _values(graph, arg):
    """The constant data behind an argument from ``bias_arg`` (None for no bias)."""
    return graph.tensors[arg[1]].data if arg[0] == "tensor" else None


def paired_filter(weights):
    """``weights`` (output channels first, any shape) in the layout tfkd_conv2d and tfkd_fully_connected read.

    Arranged here, at generation time, so that the Cortex-M4 inner loop reads the weights of two output
    channels through one post-incremented pointer. Each channel's flattened weights (k values) are padded with
    zeros to a multiple of 4 (k4); channels go in pairs (an odd last channel is paired with a channel of zeros)
    and a pair interleaves groups of 4 weights: [c0 w0..3][c1 w0..3][c0 w4..7][c1 w4..7]... Weight i of
    channel c is at ``(c / 2) * 2 * k4 + (i / 4) * 8 + (c % 2) * 4 + i % 4`` (C: ``tfkd_paired_index``).
    Returns the int8 values as a flat array of ``2 * ceil(channels / 2) * k4`` values."""
    weights = np.asarray(weights, dtype=np.int8)
    channels = weights.shape[0]
    flat = weights.reshape(channels, -1)
    k = flat.shape[1]
    k4 = -(-k // 4) * 4
    padded = np.zeros((channels + channels % 2, k4), dtype=np.int8)
    padded[:channels, :k] = flat
    # [pair][channel in pair][group][4] -> [pair][group][channel in pair][4]
    return padded.reshape(-1, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def conv_like(graph, op, depthwise):
    inp = int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = int8_activation(graph, op, op.outputs[0], "output", rank=4)
    filt = constant(graph, op, op.inputs[1], "filter", "int8", 4)
    o = op.options
    in_depth, out_depth = inp.shape[3], out.shape[3]
    if depthwise:
        if filt.shape[0] != 1 or filt.shape[3] != out_depth or out_depth % in_depth:
            raise ModelError(
                f"{describe(op)} filter shape {filt.shape} does not fit input depth {in_depth} and output depth {out_depth}"
            )
        _, filter_h, filter_w, _ = filt.shape
        depth_multiplier = out_depth // in_depth
    else:
        if filt.shape[0] != out_depth or filt.shape[3] != in_depth:
            raise ModelError(
                f"{describe(op)} filter shape {filt.shape} does not fit input depth {in_depth} and output depth "
                f"{out_depth} (grouped convolutions are not supported)"
            )
        _, filter_h, filter_w, _ = filt.shape
        depth_multiplier = 1
    dilation_h, dilation_w = o.dilationHFactor or 1, o.dilationWFactor or 1
    geometry = window(op, inp, out, filter_h, filter_w, o, dilation_h, dilation_w)
    quantized_axis = 3 if depthwise else 0
    if len(filt.scales) > 1 and filt.quantized_dimension != quantized_axis:
        raise ModelError(f"{describe(op)} filter is quantised along axis {filt.quantized_dimension}; expected {quantized_axis}")
    multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, out_depth)
    low, high = quantization.activation_range(activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    bias = bias_arg(graph, op, out_depth)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], input_depth=in_depth,
        output_height=out.shape[1], output_width=out.shape[2], output_depth=out_depth,
        filter_height=filter_h, filter_width=filter_w,
        dilation_height=dilation_h, dilation_width=dilation_w,
        depth_multiplier=depth_multiplier,
        input_offset=-inp.zero_point, output_offset=out.zero_point,
        activation_min=low, activation_max=high, **geometry,
        fast_requantize=int(quantization.fits_fast_requantize(
            filt.data, 3 if depthwise else 0, _values(graph, bias), shifts)),
    )
    taps = filter_h * filter_w * (1 if depthwise else in_depth)
    return Step(
        op, "tfkd_depthwise_conv2d" if depthwise else "tfkd_conv2d", "tfkd_conv_params", params,
        [("tensor", inp.index),
         ("tensor", filt.index) if depthwise else ("array", "int8_t", paired_filter(filt.data), "filter"), bias,
         ("array", "int32_t", multipliers, "multiplier"), ("array", "int8_t", shifts, "shift")],
        out.index, macs=out.shape[1] * out.shape[2] * out_depth * taps,
    )


def fully_connected(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    filt = constant(graph, op, op.inputs[1], "filter", "int8", 2)
    o = op.options
    if o.weightsFormat != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise ModelError(f"{describe(op)} uses shuffled weights, which code generation does not support")
    output_depth, accum_depth = filt.shape
    if inp.size % accum_depth:
        raise ModelError(f"{describe(op)} input of {inp.size} values is not a multiple of the filter depth {accum_depth}")
    batches = inp.size // accum_depth
    if out.size != batches * output_depth:
        raise ModelError(f"{describe(op)} output has {out.size} values; expected {batches} x {output_depth}")
    if len(filt.scales) > 1:
        multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, output_depth)
    else:
        # The per-tensor path of TFLite Micro derives its multiplier differently (float32 product).
        multiplier, shift = quantization.per_tensor_fc_multiplier(inp.scale, filt.scales[0], out.scale)
        multipliers, shifts = [multiplier] * output_depth, [shift] * output_depth
    low, high = quantization.activation_range(activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    bias = bias_arg(graph, op, output_depth)
    params = dict(
        batches=batches, accum_depth=accum_depth, output_depth=output_depth,
        input_offset=-inp.zero_point, filter_offset=-int(filt.zero_points[0]), output_offset=out.zero_point,
        activation_min=low, activation_max=high,
        fast_requantize=int(quantization.fits_fast_requantize(
            filt.data, 0, _values(graph, bias), shifts, filter_offset=-int(filt.zero_points[0]))),
    )
    return Step(
        op, "tfkd_fully_connected", "tfkd_fully_connected_params", params,
        [("tensor", inp.index), ("array", "int8_t", paired_filter(filt.data), "filter"), bias,
         ("array", "int32_t", multipliers, "multiplier"), ("array", "int8_t", shifts, "shift")],
        out.index, macs=batches * output_depth * accum_depth,
    )


def pool(graph, op, average):
    inp = int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = int8_activation(graph, op, op.outputs[0], "output", rank=4)
    o = op.options
    if inp.shape[3] != out.shape[3]:
        raise ModelError(f"{describe(op)} changes depth from {inp.shape[3]} to {out.shape[3]}")
    geometry = window(op, inp, out, o.filterHeight, o.filterWidth, o)
    if average:
        # TFLite Micro fails at run time when a window lies wholly in the padding; refuse it here.
        for axis, size, out_size, f in (("height", inp.shape[1], out.shape[1], o.filterHeight),
                                        ("width", inp.shape[2], out.shape[2], o.filterWidth)):
            for i in range(out_size):
                origin = i * geometry[f"stride_{axis}"] - geometry[f"pad_{axis}"]
                if min(f, size - origin) - max(0, -origin) <= 0:
                    raise ModelError(f"{describe(op)} has an output {axis} position {i} whose window is all padding")
    low, high = quantization.activation_range(activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], depth=inp.shape[3],
        output_height=out.shape[1], output_width=out.shape[2],
        filter_height=o.filterHeight, filter_width=o.filterWidth,
        activation_min=low, activation_max=high, **geometry,
    )
    function = "tfkd_average_pool" if average else "tfkd_max_pool"
    return Step(op, function, "tfkd_pool_params", params, [("tensor", inp.index)], out.index)


def transpose_conv(graph, op):
    if len(op.inputs) not in (3, 4):
        raise ModelError(f"{describe(op)} has {len(op.inputs)} inputs; expected 3 or 4")
    inp = int8_activation(graph, op, op.inputs[2], "input", rank=4)
    out = int8_activation(graph, op, op.outputs[0], "output", rank=4)
    filt = constant(graph, op, op.inputs[1], "filter", "int8", 4)
    o = op.options
    out_depth, filter_h, filter_w, in_depth = filt.shape
    if out.shape[3] != out_depth or inp.shape[3] != in_depth:
        raise ModelError(f"{describe(op)} filter shape {filt.shape} does not fit input {inp.shape} and output {out.shape}")
    if min(o.strideH, o.strideW) < 1:
        raise ModelError(f"{describe(op)} has a stride below 1")
    geometry = {}
    # TFLite Micro derives the padding from the output size, as for a convolution from output to input.
    for axis, in_size, size, f, stride in (("height", inp.shape[1], out.shape[1], filter_h, o.strideH),
                                           ("width", inp.shape[2], out.shape[2], filter_w, o.strideW)):
        expected_in = windowed_size(o.padding, size, f, stride, 1)
        if expected_in != in_size:
            raise ModelError(f"{describe(op)} input {axis} is {in_size}, but {padding_name(o.padding)} padding of "
                             f"output {size} by a window of {f} with stride {stride} gives {expected_in}")
        geometry[f"stride_{axis}"] = stride
        geometry[f"pad_{axis}"] = pad(size, f, stride, 1, expected_in)
    if len(filt.scales) > 1 and filt.quantized_dimension != 0:
        raise ModelError(f"{describe(op)} filter is quantised along axis {filt.quantized_dimension}; expected 0")
    multipliers, shifts = quantization.per_channel_multipliers(inp.scale, filt.scales, out.scale, out_depth)
    low, high = quantization.activation_range(activation(op, o.fusedActivationFunction), out.scale, out.zero_point)
    bias = bias_arg(graph, op, out_depth, position=3)
    params = dict(
        input_height=inp.shape[1], input_width=inp.shape[2], input_depth=in_depth,
        output_height=out.shape[1], output_width=out.shape[2], output_depth=out_depth,
        filter_height=filter_h, filter_width=filter_w, dilation_height=1, dilation_width=1, depth_multiplier=1,
        input_offset=-inp.zero_point, output_offset=out.zero_point, activation_min=low, activation_max=high,
        **geometry,
    )
    return Step(op, "tfkd_transpose_conv", "tfkd_conv_params", params,
                [("tensor", inp.index), ("tensor", filt.index), bias,
                 ("array", "int32_t", multipliers, "multiplier"), ("array", "int8_t", shifts, "shift")],
                out.index, macs=inp.shape[1] * inp.shape[2] * in_depth * filter_h * filter_w * out_depth)
