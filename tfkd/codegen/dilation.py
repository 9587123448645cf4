"""Lowering Keras' dilated convolutions (SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND, recognised by
:mod:`tfkd.model.dilation`) as one dilated step, which the windowed kernels compute directly, without the
batched copies in memory. The sandwich's padding is the input zero point, a real zero that adds nothing, so
the step gives TFLite's outputs byte for byte with top padding ``pad_top - crop_top``; it needs no SAME or
VALID shape.
"""

import dataclasses

import numpy as np

from tfkd.codegen import lower_windowed
from tfkd.codegen.checks import describe
from tfkd.model import ModelError
from tfkd.model.dilation import check_same_quantization, constant_ints
from tfkd.model.schema import schema


def lower(graph, s2b, conv, b2s):
    """The :class:`Step` of the dilated convolution that ``s2b -> conv -> b2s`` computes."""
    block = constant_ints(graph, s2b, 1, (2,))
    paddings = constant_ints(graph, s2b, 2, (2, 2))
    crops = constant_ints(graph, b2s, 2, (2, 2))
    if not np.array_equal(constant_ints(graph, b2s, 1, (2,)), block):
        raise ModelError(f"{describe(b2s)} block shape {constant_ints(graph, b2s, 1, (2,)).tolist()} differs from "
                         f"{describe(s2b)}'s {block.tolist()}")
    options = conv.options
    if options.padding != schema.Padding.VALID or (options.strideH, options.strideW) != (1, 1) or (
            (options.dilationHFactor or 1), (options.dilationWFactor or 1)) != (1, 1):
        raise ModelError(f"{describe(conv)} between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND must be a VALID, stride 1, "
                         "undilated convolution")
    for op in (s2b, b2s):
        check_same_quantization(graph, op)
    pad = paddings[:, 0] - crops[:, 0]
    if np.any(pad < 0):
        raise ModelError(f"{describe(b2s)} crops more than {describe(s2b)} pads: {crops.tolist()} against "
                         f"{paddings.tolist()}")
    step = lower_windowed.conv_like(graph, conv, depthwise=conv.kind == "DEPTHWISE_CONV_2D")
    inp, out = graph.tensors[s2b.inputs[0]], graph.tensors[b2s.outputs[0]]
    if len(inp.shape) != 4 or inp.shape[0] != 1 or len(out.shape) != 4 or out.shape[0] != 1:
        raise ModelError(f"{describe(s2b)} reads shape {inp.shape}; expected batch 1 and rank 4")
    params = dict(step.params, input_height=inp.shape[1], input_width=inp.shape[2], output_height=out.shape[1],
                  output_width=out.shape[2], dilation_height=int(block[0]), dilation_width=int(block[1]),
                  pad_height=int(pad[0]), pad_width=int(pad[1]))
    for axis, size, out_size, filter_size, dilation, before in (
            ("height", inp.shape[1], out.shape[1], params["filter_height"], block[0], pad[0]),
            ("width", inp.shape[2], out.shape[2], params["filter_width"], block[1], pad[1])):
        # The last output's window must end inside the input and the converter's bottom padding.
        if (out_size - 1) + (filter_size - 1) * dilation - before > size - 1 + paddings[0 if axis == "height" else 1, 1]:
            raise ModelError(f"{describe(conv)} with dilation {int(dilation)} gives {out_size} output {axis}s from {size}")
    args = [("tensor", inp.index)] + step.args[1:]
    per_pixel = step.macs // (step.params["output_height"] * step.params["output_width"])
    return dataclasses.replace(step, params=params, args=args, output=out.index,
                               macs=int(out.shape[1] * out.shape[2] * per_pixel))
