"""Lowering of element-wise and tensor-shaping operators: ADD, SUB, MUL, table look-ups (LOGISTIC, TANH,
RELU, RELU6, LEAKY_RELU, HARD_SWISH, QUANTIZE), SOFTMAX, MEAN, PAD, CONCATENATION, STRIDED_SLICE and the
aliases (RESHAPE, SQUEEZE, EXPAND_DIMS)."""

import numpy as np

from tfkd.codegen import quantization, tables
from tfkd.codegen.checks import Step, activation, binary_inputs, broadcast_strides, describe, int8_activation
from tfkd.model import ModelError


def add(graph, op, subtract=False):
    inputs, out, out_shape = binary_inputs(graph, op)
    strides = [broadcast_strides(op, t.shape, out_shape) for t in inputs]
    # SUB derives its multipliers as ADD does: the tflite-micro runtime computes them in double (a float32
    # division, as sub_common.cc in some TFLite Micro versions reads, differs in the last bit; the fuzzer found it).
    (m1, s1), (m2, s2), (mo, so) = quantization.add_multipliers(inputs[0].scale, inputs[1].scale, out.scale)
    low, high = quantization.activation_range(activation(op, op.options.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        output_dims=list(out_shape), input1_strides=strides[0], input2_strides=strides[1],
        input1_offset=-inputs[0].zero_point, input2_offset=-inputs[1].zero_point, output_offset=out.zero_point,
        subtract=int(subtract), left_shift=quantization.ADD_LEFT_SHIFT,
        input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
        output_multiplier=mo, output_shift=so, activation_min=low, activation_max=high,
    )
    return Step(op, "tfkd_add", "tfkd_add_params", params,
                [("tensor", inputs[0].index), ("tensor", inputs[1].index)], out.index)


def mul(graph, op):
    inputs, out, out_shape = binary_inputs(graph, op)
    multiplier, shift = quantization.quantize_multiplier(
        float(inputs[0].scale) * float(inputs[1].scale) / float(out.scale))
    low, high = quantization.activation_range(activation(op, op.options.fusedActivationFunction), out.scale, out.zero_point)
    params = dict(
        output_dims=list(out_shape), input1_strides=broadcast_strides(op, inputs[0].shape, out_shape),
        input2_strides=broadcast_strides(op, inputs[1].shape, out_shape),
        input1_offset=-inputs[0].zero_point, input2_offset=-inputs[1].zero_point, output_offset=out.zero_point,
        output_multiplier=multiplier, output_shift=shift, activation_min=low, activation_max=high,
    )
    return Step(op, "tfkd_mul", "tfkd_mul_params", params,
                [("tensor", inputs[0].index), ("tensor", inputs[1].index)], out.index, macs=out.size)


def lut(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    if inp.size != out.size:
        raise ModelError(f"{describe(op)} maps {inp.size} values onto {out.size}")
    scales = (inp.scale, inp.zero_point, out.scale, out.zero_point)
    if op.kind in ("LOGISTIC", "TANH"):
        expected = (np.float32(1 / 256), -128) if op.kind == "LOGISTIC" else (np.float32(1 / 128), 0)
        if (out.scale, out.zero_point) != expected:
            raise ModelError(f"{describe(op)} output has scale {float(out.scale)} and zero point {out.zero_point}; "
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


def softmax(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    if inp.shape != out.shape or not inp.shape:
        raise ModelError(f"{describe(op)} maps shape {inp.shape} onto {out.shape}")
    if out.scale != np.float32(1 / 256) or out.zero_point != -128:
        raise ModelError(f"{describe(op)} output has scale {float(out.scale)} and zero point {out.zero_point}; "
                         "TFLite Micro requires 1/256 and -128")
    exps, max_diff = tables.softmax(np.float32(op.options.beta), inp.scale)
    depth = inp.shape[-1]
    return Step(op, "tfkd_softmax", "tfkd_softmax_params", dict(rows=inp.size // depth, depth=depth, max_diff=max_diff),
                [("tensor", inp.index), ("array", "int32_t", exps, "exps")], out.index)


def mean(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input", rank=4)
    out = int8_activation(graph, op, op.outputs[0], "output")
    axes = graph.tensors[op.inputs[1]]
    if axes.data is None:
        raise ModelError(f"{describe(op)} axes are not constant; only constant axes are supported")
    resolved = sorted({int(a) % 4 for a in axes.data.reshape(-1)})
    if resolved != [1, 2]:
        raise ModelError(f"{describe(op)} averages over axes {resolved}; code generation supports the spatial axes [1, 2]")
    _, height, width, depth = inp.shape
    if out.size != depth:
        raise ModelError(f"{describe(op)} output has {out.size} values; expected {depth}")
    multiplier, shift = quantization.quantize_multiplier(float(inp.scale) / float(out.scale))
    count = height * width
    # TFLite Micro folds the division by the element count into the multiplier (reduce.h).
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << extra) // count if extra >= 0 else multiplier
    params = dict(height=height, width=width, depth=depth, input_zero_point=inp.zero_point,
                  output_offset=out.zero_point, multiplier=multiplier, shift=shift - extra)
    return Step(op, "tfkd_mean", "tfkd_mean_params", params, [("tensor", inp.index)], out.index, macs=inp.size)


def pad_op(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    paddings = graph.tensors[op.inputs[1]]
    if paddings.data is None or len(inp.shape) > 4 or paddings.data.shape != (len(inp.shape), 2):
        raise ModelError(f"{describe(op)} paddings must be a constant [rank, 2] tensor for an input of rank <= 4")
    pad_value = out.zero_point
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        constant = graph.tensors[op.inputs[2]]
        if constant.data is None or constant.dtype != "int8" or constant.zero_point != out.zero_point \
                or constant.scale != out.scale:
            raise ModelError(f"{describe(op)} pad value must be a constant on the output's quantization")
        pad_value = int(constant.data.reshape(-1)[0])
    lead = 4 - len(inp.shape)
    before = [0] * lead + [int(p) for p in paddings.data[:, 0]]
    in_dims = [1] * lead + list(inp.shape)
    out_dims = [1] * lead + list(out.shape)
    if [i + int(a) + int(b) for i, (a, b) in zip(in_dims, [(0, 0)] * lead + paddings.data.tolist())] != out_dims \
            or min(int(v) for v in paddings.data.reshape(-1)) < 0:
        raise ModelError(f"{describe(op)} paddings {paddings.data.tolist()} do not take {inp.shape} to {out.shape}")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ModelError(f"{describe(op)} changes quantization; TFLite Micro's PAD copies values unchanged")
    params = dict(output_dims=out_dims, input_dims=in_dims, before=before, pad_value=pad_value)
    return Step(op, "tfkd_pad", "tfkd_pad_params", params, [("tensor", inp.index)], out.index)


def concatenation(graph, op):
    out = int8_activation(graph, op, op.outputs[0], "output")
    axis = op.options.axis % len(out.shape) if out.shape else 0
    rows = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = int(np.prod(out.shape[axis + 1:], dtype=np.int64))
    if activation(op, op.options.fusedActivationFunction) != "NONE":
        raise ModelError(f"{describe(op)} has a fused activation; TFLite Micro's int8 CONCATENATION has none")
    steps, offset = [], 0
    for k, index in enumerate(op.inputs):
        inp = graph.tensors[index]
        if inp.data is not None:
            raise ModelError(f"{describe(op)} input {k + 1} is a constant; only activations are supported")
        inp = int8_activation(graph, op, index, f"input {k + 1}")
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            raise ModelError(f"{describe(op)} input {k + 1} is quantized differently from the output; "
                             "TFLite Micro's int8 CONCATENATION requires equal scales and zero points")
        if len(inp.shape) != len(out.shape):
            raise ModelError(f"{describe(op)} input {k + 1} has rank {len(inp.shape)}; expected {len(out.shape)}")
        row_size = inp.shape[axis] * inner
        params = dict(rows=rows, row_size=row_size, output_row_size=out.shape[axis] * inner, output_offset=offset)
        steps.append(Step(op, "tfkd_copy", "tfkd_copy_params", params, [("tensor", inp.index)], out.index))
        offset += row_size
    if offset != out.shape[axis] * inner:
        raise ModelError(f"{describe(op)} inputs fill {offset} of {out.shape[axis] * inner} values per row")
    return steps


def strided_slice(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    rank = len(inp.shape)
    vectors = []
    for k, role in ((1, "begin"), (2, "end"), (3, "strides")):
        tensor = graph.tensors[op.inputs[k]] if len(op.inputs) > k and op.inputs[k] >= 0 else None
        if tensor is None or tensor.data is None or tensor.data.shape != (rank,):
            raise ModelError(f"{describe(op)} {role} must be a constant vector of {rank} values")
        vectors.append([int(v) for v in tensor.data])
    begin, end, strides = vectors
    o = op.options
    if rank > 4 or o.ellipsisMask or o.newAxisMask:
        raise ModelError(f"{describe(op)} uses rank {rank}, an ellipsis or a new axis; code generation supports "
                         "slices of up to 4 dimensions")
    if inp.scale != out.scale or inp.zero_point != out.zero_point:
        raise ModelError(f"{describe(op)} changes quantization; TFLite Micro's STRIDED_SLICE copies values unchanged")
    starts, steps, counts = [], [], []
    for axis, size in enumerate(inp.shape):
        if 0 in strides:
            raise ModelError(f"{describe(op)} has a zero stride")
        b = None if o.beginMask >> axis & 1 else begin[axis]
        e = None if o.endMask >> axis & 1 else (begin[axis] + end[axis] if getattr(o, "offset", False) else end[axis])
        if o.shrinkAxisMask >> axis & 1:
            index = begin[axis] + size if begin[axis] < 0 else begin[axis]
            if not 0 <= index < size:
                raise ModelError(f"{describe(op)} index {begin[axis]} is outside axis {axis} of size {size}")
            selected = range(index, index + 1)
        else:
            # TensorFlow's slice rules are Python's: clamp to the axis, empty when they cross.
            selected = range(*slice(b, e, strides[axis]).indices(size))
        starts.append(selected.start)
        steps.append(selected.step)
        counts.append(len(selected))
    if int(np.prod(counts)) != out.size:
        raise ModelError(f"{describe(op)} selects {int(np.prod(counts))} values; its output has {out.size}")
    lead = 4 - rank
    dims = [1] * lead + list(inp.shape)
    input_strides = [int(np.prod(dims[d + 1:], dtype=np.int64)) for d in range(4)]
    params = dict(output_dims=[1] * lead + counts, start=[0] * lead + starts, step=[1] * lead + steps,
                  input_strides=input_strides)
    return Step(op, "tfkd_strided_slice", "tfkd_slice_params", params, [("tensor", inp.index)], out.index)


def reshape(graph, op):
    inp = int8_activation(graph, op, op.inputs[0], "input")
    out = int8_activation(graph, op, op.outputs[0], "output")
    if inp.size != out.size:
        raise ModelError(f"{describe(op)} maps {inp.size} values onto {out.size}")
    return Step(op, None, None, {}, [("tensor", inp.index)], out.index)
