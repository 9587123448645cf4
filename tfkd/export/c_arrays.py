"""C++ sources that put a TFLite model into firmware, rendered by :mod:`tfkd.c_writer`.

:func:`write_c_arrays` writes four files:

- ``model_data.h`` / ``model_data.cc``: ``alignas(16) const unsigned char g_model[]``
  and ``const unsigned int g_model_len``, byte-identical to the flatbuffer (TFLite
  Micro reads the flatbuffer in place, and its tensors need 16-byte alignment);
- ``model_settings.h``: input and output shapes, types, scale and zero point, class
  labels, and ``kTensorArenaSize``: the arena measured in TFLite Micro plus the margin
  stated in :mod:`tfkd.export.arena`;
- ``model_ops.h``: ``RegisterModelOps()``, registering exactly the model's operators
  on a ``tflite::MicroMutableOpResolver<kModelOpCount>``.

The names above are those of the default model name ``g_model``, which the firmware
templates in ``microcontroller/`` use. Any other name gives the array that name and
puts its CamelCase word (:func:`tfkd.c_writer.camel`) into every setting, so that two
models' sources can be linked into one firmware image: ``kws`` gives ``kws[]``,
``kws_len``, ``kKwsInputScale``, ``KwsInputType``, ``KwsOpResolver``, ``RegisterKwsOps``.
The include guards carry the model's prefix too.
"""

import os

import numpy as np

from tfkd import c_writer
from tfkd.export.arena import ARENA_MARGIN_BYTES, ARENA_MARGIN_FRACTION, arena_with_margin, measure_arena
from tfkd.export.model_info import parse
from tfkd.files import check_output_dir

BYTES_PER_LINE = 12
DEFAULT_NAME = "g_model"
FILE_NAMES = ("model_data.h", "model_data.cc", "model_settings.h", "model_ops.h")

# TFLite builtin operator -> the MicroMutableOpResolver method that registers it
# (tensorflow/lite/micro/micro_mutable_op_resolver.h in tflite-micro).
MICRO_OP_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "ELU": "AddElu", "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill",
    "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish", "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic",
    "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D",
    "MIRROR_PAD": "AddMirrorPad", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable", "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu", "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQUEEZE": "AddSqueeze", "SQRT": "AddSqrt",
    "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE_CONV": "AddTransposeConv",
    "TRANSPOSE": "AddTranspose", "UNPACK": "AddUnpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM", "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}

_CPP_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float"}


def c_identifier(name):
    """The C++ name of the model array for ``name`` (:func:`tfkd.c_writer.identifier`)."""
    return c_writer.identifier(name)


class CNames:
    """The C++ names a model's sources declare, from its name (see the module docstring)."""

    def __init__(self, name=DEFAULT_NAME):
        self.model = c_writer.identifier(name)
        self.word = "" if self.model == DEFAULT_NAME else c_writer.camel(name)
        self.type_word = self.word or "Model"

    def k(self, what):
        """A constant: ``kInputScale`` for the default model, ``kKwsInputScale`` for ``kws``."""
        return f"k{self.word}{what}"


def _preamble(what, info):
    return (f"{what}\nGenerated by tfkd from a {info.flatbuffer_bytes}-byte TFLite flatbuffer; "
            "regenerate rather than edit.")


_DATA_NOTE = "The TFLite flatbuffer, read in place by TFLite Micro."


def _model_data_h(names, info):
    body = f"extern const unsigned char {names.model}[];\nextern const unsigned int {names.model}_len;\n"
    return c_writer.guarded_header("model_data.h", names.model, body, preamble=_preamble(_DATA_NOTE, info))


def _model_data_cc(names, data, info):
    array = c_writer.array("unsigned char", names.model, data, per_line=BYTES_PER_LINE, align=16, hex_bytes=True,
                           dims=[""])
    return (
        c_writer.line_comments(_preamble(_DATA_NOTE, info))
        + '#include "model_data.h"\n\n'
        "// TFLite Micro maps tensors straight onto this array: it must be 16-byte aligned.\n"
        f"{array}\nconst unsigned int {names.model}_len = {len(data)};\n"
    )


def _tensor_settings(names, role, tensor, quantization):
    dtype = _CPP_TYPES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"model {role.lower()} {tensor.name!r} is {tensor.dtype}; expected int8 or float32")
    scale, zero_point = quantization if quantization else (0.0, 0)
    dims = names.k(f"{role}Dims")
    return (
        f"using {names.type_word}{role}Type = {dtype};\n"
        f"constexpr int {dims} = {len(tensor.shape)};\n"
        f"constexpr int {names.k(role + 'Shape')}[{dims}] = {{{', '.join(str(d) for d in tensor.shape)}}};\n"
        f"constexpr int {names.k(role + 'Elements')} = {tensor.elements};\n"
        f"constexpr float {names.k(role + 'Scale')} = {scale!r}f;\n"
        f"constexpr int {names.k(role + 'ZeroPoint')} = {zero_point};\n"
    )


def _model_settings_h(names, info, labels, measured_arena):
    inp, out = info.inputs[0], info.outputs[0]
    count = names.k("CategoryCount")
    label_lines = ",\n".join(f"    {c_writer.string(label)}" for label in labels)
    body = (
        "// real_value = scale * (quantized_value - zero_point)\n"
        + _tensor_settings(names, "Input", inp, info.int8_quantization(inp))
        + "\n"
        + _tensor_settings(names, "Output", out, info.int8_quantization(out))
        + "\n"
        f"constexpr int {count} = {len(labels)};\n"
        f"constexpr const char* {names.k('CategoryLabels')}[{count}] = {{\n{label_lines}\n}};\n\n"
        "// Smallest arena with which TFLite Micro allocated and invoked the model (measured on the host).\n"
        f"constexpr int {names.k('TensorArenaMeasured')} = {measured_arena};\n"
        f"// Margin: {ARENA_MARGIN_FRACTION:.0%} + {ARENA_MARGIN_BYTES} bytes, rounded up to 16, for optimised-kernel\n"
        "// scratch buffers (e.g. CMSIS-NN) and arena alignment.\n"
        f"constexpr int {names.k('TensorArenaSize')} = {arena_with_margin(measured_arena)};\n"
    )
    return c_writer.guarded_header(
        "model_settings.h", names.model, body, includes=("<cstdint>",),
        preamble=_preamble("Shapes, quantization, labels and tensor arena of the model.", info),
    )


def _model_ops_h(names, info):
    ops = info.op_names
    count, resolver = f"k{names.type_word}OpCount", f"{names.type_word}OpResolver"
    calls = "\n".join(
        f"  if ((status = resolver.{MICRO_OP_METHODS[op]}()) != kTfLiteOk) return status;  // {op}" for op in ops
    )
    body = (
        f"constexpr unsigned int {count} = {len(ops)};\n"
        f"using {resolver} = tflite::MicroMutableOpResolver<{count}>;\n\n"
        "// Registers every operator the model uses; any other kernel stays out of the firmware.\n"
        f"inline TfLiteStatus Register{names.type_word}Ops({resolver}& resolver) {{\n"
        "  TfLiteStatus status;\n"
        f"{calls}\n"
        "  return kTfLiteOk;\n"
        "}\n"
    )
    return c_writer.guarded_header(
        "model_ops.h", names.model, body, includes=('"tensorflow/lite/micro/micro_mutable_op_resolver.h"',),
        preamble=_preamble("The operators of the model, and only those.", info),
    )


def _check_model(info, require_int8):
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise ValueError(
            f"model has {len(info.inputs)} inputs and {len(info.outputs)} outputs; expected one of each"
        )
    unsupported = [op for op in info.op_names if op not in MICRO_OP_METHODS]
    if unsupported:
        raise ValueError(
            f"model uses {', '.join(unsupported)}, which TFLite Micro's MicroMutableOpResolver cannot register; "
            "expected builtin operators only"
        )
    if require_int8:
        float_ops = [op.name for op in info.float_operators()]
        io = {"input": info.inputs[0].dtype, "output": info.outputs[0].dtype}
        if float_ops or any(dtype != "int8" for dtype in io.values()):
            detail = f"ops computing in float32: {', '.join(dict.fromkeys(float_ops))}" if float_ops else (
                f"input is {io['input']}, output is {io['output']}"
            )
            raise ValueError(
                f"model is not full-int8 ({detail}); expected int8 input, output and operators, "
                "as from tfkd.export.to_tflite(model, data, io='int8')"
            )


def _labels(labels, info):
    classes = info.outputs[0].elements
    if labels is None:
        return [str(i) for i in range(classes)]
    labels = [str(label) for label in labels]
    if len(labels) != classes:
        raise ValueError(f"got {len(labels)} labels for a model with {classes} outputs; expected one label per output")
    return labels


def render_c_arrays(tflite_bytes, name=DEFAULT_NAME, labels=None, arena_bytes=None, require_int8=True):
    """``{file name: C++ text}`` of the four files :func:`write_c_arrays` writes (same arguments)."""
    info = parse(tflite_bytes)
    data = bytes(tflite_bytes)
    _check_model(info, require_int8)
    names = CNames(name)
    labels = _labels(labels, info)
    measured = int(arena_bytes) if arena_bytes is not None else measure_arena(data)
    return {
        "model_data.h": _model_data_h(names, info),
        "model_data.cc": _model_data_cc(names, data, info),
        "model_settings.h": _model_settings_h(names, info, labels, measured),
        "model_ops.h": _model_ops_h(names, info),
    }


def write_c_arrays(tflite_bytes, out_dir, name=DEFAULT_NAME, labels=None, arena_bytes=None, require_int8=True):
    """Writes ``model_data.h``, ``model_data.cc``, ``model_settings.h`` and ``model_ops.h`` into
    ``out_dir`` and returns ``{file name: path}``.

    ``name``: the C++ array name, sanitised into an identifier; a name other than
    ``g_model`` also names the settings (module docstring). ``labels``: one per
    output (default ``"0"``, ``"1"``, ...). ``arena_bytes``: the measured TFLite Micro
    arena (measured here when ``None``); the margin is added on top.
    ``require_int8``: refuse a model whose input, output or operators are not int8.
    Nothing is written unless every file is; an existing ``out_dir`` keeps its other files.
    """
    out_dir = check_output_dir(out_dir)
    return c_writer.write_sources(out_dir, render_c_arrays(tflite_bytes, name, labels, arena_bytes, require_int8))


def samples_header(samples, input_elements, name=DEFAULT_NAME):
    """C++ text of a samples header for ``microcontroller/tflm/main.cc``: ``kSampleCount`` and
    ``kSamples[kSampleCount][kInputElements]``, the int8 model inputs the firmware runs
    (with the model's word in them for a ``name`` other than ``g_model``)."""
    samples = np.asarray(samples)
    if samples.dtype != np.int8:
        raise TypeError(f"samples are {samples.dtype}; expected int8 (quantized model inputs)")
    if samples.ndim == 0 or len(samples) == 0:
        raise ValueError("samples is empty; expected at least one int8 input")
    rows = samples.reshape(len(samples), -1)
    if rows.shape[1] != input_elements:
        raise ValueError(f"samples have {rows.shape[1]} values each; expected the model's {input_elements} inputs")
    names = CNames(name)
    count = names.k("SampleCount")
    body = f"constexpr int {count} = {len(rows)};\n" + c_writer.array(
        "int8_t", names.k("Samples"), rows, align=16, dims=[count, input_elements])
    return c_writer.guarded_header(
        "samples.h", names.model, body, includes=("<cstdint>",),
        preamble="Int8 inputs for the TFLite Micro firmware (microcontroller/tflm/main.cc); generated by tfkd.",
    )


def write_samples_header(samples, path, tflite_bytes, name=DEFAULT_NAME):
    """Writes :func:`samples_header` of ``samples`` for the model ``tflite_bytes`` to ``path`` atomically."""
    info = parse(tflite_bytes)
    path = os.path.abspath(os.fspath(path))
    text = samples_header(samples, info.inputs[0].elements, name)
    return c_writer.write_sources(os.path.dirname(path), {os.path.basename(path): text})[os.path.basename(path)]
