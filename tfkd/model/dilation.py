"""Keras' dilated convolutions as the converter writes them: SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D ->
BATCH_TO_SPACE_ND, recognised and folded back into one dilated operator.

The TFLite converter turns ``Conv2D(dilation_rate=d)`` and ``DepthwiseConv2D(dilation_rate=d)`` into an
undilated VALID convolution over a "space to batch" rearrangement of the zero-padded input (one batch per
phase of the dilation), then rearranges the result back and crops it. Output pixel ``(y, x)`` of that
sandwich reads input rows ``y + crop_top - pad_top + fy * d`` (and likewise columns), and the padding is
the input zero point, a real zero that adds nothing: it is the dilated convolution with top padding
``pad_top - crop_top`` (SAME or VALID for Keras' layers). The two rearrangements only move int8 values
(TFLite requires their inputs and outputs to share scale and zero point).

TFLite Micro cannot run these sandwiches: it trusts the tensor shapes stored in the model, and the
converter stores the batched tensors with batch 1 where they hold ``block_h * block_w`` batches, so it
computes one phase of the dilation and leaves the rest of the output wrong (:func:`tflite_micro_misreads`).
:func:`fold_dilated_convolutions` rewrites a model with each sandwich as the one dilated operator it stands
for, which TFLite Micro and LiteRT both compute (``tfkd.export.to_tflite`` does it by default).
"""

import numpy as np

from tfkd.model.errors import ModelError
from tfkd.model.schema import schema

CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def describe(op):
    return f"{op.kind} (operator #{op.index})"


def constant_ints(graph, op, position, shape):
    tensor = graph.tensors[op.inputs[position]] if len(op.inputs) > position else None
    if tensor is None or tensor.data is None or tuple(tensor.shape) != shape:
        raise ModelError(f"{describe(op)} input {position} must be a constant of shape {shape}")
    return np.asarray(tensor.data, dtype=np.int64).reshape(shape)


def check_same_quantization(graph, op):
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if (inp.scale, inp.zero_point) != (out.scale, out.zero_point):
        raise ModelError(f"{describe(op)} changes the quantization of its input; expected the same scale and zero point")


def sandwiches(graph):
    """``{BATCH_TO_SPACE_ND operator index: (space_to_batch, convolution, batch_to_space)}`` for every
    dilated convolution the converter wrote as three operators (convolutions of the same input with the same
    dilation may share one SPACE_TO_BATCH_ND)."""
    found = {}
    outputs = set(graph.output_indices)
    for s2b in graph.operators:
        if s2b.kind != "SPACE_TO_BATCH_ND" or s2b.outputs[0] in outputs:
            continue
        triples = []
        for conv in graph.readers(s2b.outputs[0]):
            after = graph.readers(conv.outputs[0])
            if (conv.kind not in CONVOLUTIONS or conv.inputs[0] != s2b.outputs[0] or conv.outputs[0] in outputs
                    or len(after) != 1 or after[0].kind != "BATCH_TO_SPACE_ND"):
                break
            triples.append((s2b, conv, after[0]))
        else:
            found.update({b2s.index: (s2b, conv, b2s) for s2b, conv, b2s in triples})
    return found


def tflite_micro_misreads(model):
    """The SPACE_TO_BATCH_ND operators of ``model`` (a :func:`tfkd.model.read_model` graph) whose stored output
    shape does not hold all the batches they write: TFLite Micro, which takes stored shapes as they are,
    computes wrong outputs for them."""
    wrong = []
    for op in model.operators:
        if op.kind != "SPACE_TO_BATCH_ND" or len(op.inputs) < 2 or model.tensors[op.inputs[1]].data is None:
            continue
        batches = model.tensors[op.inputs[0]].shape[0] * int(np.prod(model.tensors[op.inputs[1]].data))
        if model.tensors[op.outputs[0]].shape[0] != batches:
            wrong.append(op)
    return wrong


def dilated_padding(graph, s2b, conv, b2s):
    """``schema.Padding`` (SAME or VALID) of the dilated convolution ``s2b -> conv -> b2s`` computes."""
    block = constant_ints(graph, s2b, 1, (2,))
    pad = constant_ints(graph, s2b, 2, (2, 2))[:, 0] - constant_ints(graph, b2s, 2, (2, 2))[:, 0]
    size = np.array(graph.tensors[s2b.inputs[0]].shape[1:3])
    out = np.array(graph.tensors[b2s.outputs[0]].shape[1:3])
    effective = (np.array(graph.tensors[conv.inputs[1]].shape[1:3]) - 1) * block + 1
    if np.array_equal(out, size) and np.array_equal(pad, (effective - 1) // 2):
        return schema.Padding.SAME
    if np.array_equal(out, size - effective + 1) and not pad.any():
        return schema.Padding.VALID
    raise ModelError(f"{describe(conv)} with dilation {block.tolist()} and padding {pad.tolist()} is neither SAME nor VALID")


def fold_dilated_convolutions(tflite_bytes):
    """``tflite_bytes`` with every SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND replaced by the dilated
    SAME or VALID convolution it computes (TFLite Micro runs those correctly); the model itself when it has none.
    A sandwich that is not a SAME or VALID dilated convolution stays as it is."""
    import flatbuffers

    from tfkd.model.reader import read_model

    graph = read_model(tflite_bytes)
    found = {}
    for b2s_index, (s2b, conv, b2s) in sandwiches(graph).items():
        try:
            found[b2s_index] = (s2b, conv, b2s, dilated_padding(graph, s2b, conv, b2s))
        except ModelError:
            continue
    if not found:
        return tflite_bytes
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    operators = model.subgraphs[0].operators
    moved = {}
    for b2s_index, (s2b, conv, b2s, padding) in found.items():
        op = operators[conv.index]
        op.inputs = [s2b.inputs[0], *[int(t) for t in op.inputs[1:]]]
        op.outputs = [b2s.outputs[0]]
        block = constant_ints(graph, s2b, 1, (2,))
        op.builtinOptions.padding = padding
        op.builtinOptions.dilationHFactor, op.builtinOptions.dilationWFactor = int(block[0]), int(block[1])
        moved[b2s_index] = op
    dropped = {o.index for ops in found.values() for o in ops[:3]}
    model.subgraphs[0].operators = [moved.get(k, op) for k, op in enumerate(operators)
                                    if k in moved or k not in dropped]
    builder = flatbuffers.Builder(len(tflite_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
