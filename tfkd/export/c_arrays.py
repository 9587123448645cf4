"""C++ sources that put a TFLite model into firmware.

:func:`write_c_arrays` writes four files:

- ``model_data.h`` / ``model_data.cc``: ``alignas(16) const unsigned char g_model[]``
  and ``const unsigned int g_model_len``, byte-identical to the flatbuffer (TFLite
  Micro reads the flatbuffer in place, and its tensors need 16-byte alignment);
- ``model_settings.h``: input and output shapes, types, scale and zero point, class
  labels, and ``kTensorArenaSize``: the arena measured in TFLite Micro plus the margin
  stated in :mod:`tfkd.export.arena`;
- ``model_ops.h``: ``RegisterModelOps()``, registering exactly the model's operators
  on a ``tflite::MicroMutableOpResolver<kModelOpCount>``.
"""

import keyword
import os
import re

import numpy as np

from tfkd.export.arena import ARENA_MARGIN_BYTES, ARENA_MARGIN_FRACTION, arena_with_margin, measure_arena
from tfkd.export.model_info import parse
from tfkd.files import atomic_write_text, check_output_dir, staged_output_dir

BYTES_PER_LINE = 12
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
_CPP_KEYWORDS = frozenset(
    "alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class "
    "compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype "
    "default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline "
    "int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public "
    "register reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch "
    "template this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile "
    "wchar_t while xor xor_eq".split()
)


def c_identifier(name):
    """``name`` made a valid C++ identifier: other characters become ``_``, a leading digit or a
    keyword gets a prefix or suffix, and reserved forms (``__x``, ``_X``) lose their underscores."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name={name!r} is invalid; expected a non-empty string to build a C++ identifier from")
    identifier = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
    identifier = re.sub(r"_+", "_", identifier).strip("_") or "model"
    if identifier[0].isdigit():
        identifier = "model_" + identifier
    if identifier in _CPP_KEYWORDS or keyword.iskeyword(identifier):
        identifier += "_"
    return identifier


def c_string(text):
    """``text`` as a C++ string literal: UTF-8, with quotes, backslashes, ``?`` and every
    non-printable or non-ASCII byte escaped (octal, as hex escapes would swallow following digits)."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _guard(file_name, identifier):
    return f"TFKD_{identifier.upper()}_{re.sub(r'[^A-Za-z0-9]', '_', file_name).upper()}_"


def _header(what, info):
    return (
        f"// {what}\n"
        f"// Generated by tfkd from a {info.flatbuffer_bytes}-byte TFLite flatbuffer; regenerate rather than edit.\n"
    )


def _model_data_h(identifier, info):
    guard = _guard("model_data.h", identifier)
    return (
        _header("The TFLite flatbuffer, read in place by TFLite Micro.", info)
        + f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {identifier}[];\n"
        f"extern const unsigned int {identifier}_len;\n\n"
        f"#endif  // {guard}\n"
    )


def _model_data_cc(identifier, data, info):
    rows = []
    for start in range(0, len(data), BYTES_PER_LINE):
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in data[start:start + BYTES_PER_LINE]) + ",")
    return (
        _header("The TFLite flatbuffer, read in place by TFLite Micro.", info)
        + '#include "model_data.h"\n\n'
        "// TFLite Micro maps tensors straight onto this array: it must be 16-byte aligned.\n"
        f"alignas(16) const unsigned char {identifier}[] = {{\n" + "\n".join(rows) + "\n};\n"
        f"const unsigned int {identifier}_len = {len(data)};\n"
    )


def _tensor_settings(prefix, tensor, quantization):
    dtype = _CPP_TYPES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"model {prefix.lower()} {tensor.name!r} is {tensor.dtype}; expected int8 or float32")
    scale, zero_point = quantization if quantization else (0.0, 0)
    shape = ", ".join(str(d) for d in tensor.shape)
    return (
        f"using Model{prefix}Type = {dtype};\n"
        f"constexpr int k{prefix}Dims = {len(tensor.shape)};\n"
        f"constexpr int k{prefix}Shape[k{prefix}Dims] = {{{shape}}};\n"
        f"constexpr int k{prefix}Elements = {tensor.elements};\n"
        f"constexpr float k{prefix}Scale = {scale!r}f;\n"
        f"constexpr int k{prefix}ZeroPoint = {zero_point};\n"
    )


def _model_settings_h(identifier, info, labels, measured_arena):
    guard = _guard("model_settings.h", identifier)
    arena = arena_with_margin(measured_arena)
    inp, out = info.inputs[0], info.outputs[0]
    label_lines = ",\n".join(f"    {c_string(label)}" for label in labels)
    return (
        _header("Shapes, quantization, labels and tensor arena of the model.", info)
        + f"#ifndef {guard}\n#define {guard}\n\n#include <cstdint>\n\n"
        "// real_value = scale * (quantized_value - zero_point)\n"
        + _tensor_settings("Input", inp, info.int8_quantization(inp))
        + "\n"
        + _tensor_settings("Output", out, info.int8_quantization(out))
        + "\n"
        f"constexpr int kCategoryCount = {len(labels)};\n"
        f"constexpr const char* kCategoryLabels[kCategoryCount] = {{\n{label_lines}\n}};\n\n"
        f"// Smallest arena with which TFLite Micro allocated and invoked the model (measured on the host).\n"
        f"constexpr int kTensorArenaMeasured = {measured_arena};\n"
        f"// Margin: {ARENA_MARGIN_FRACTION:.0%} + {ARENA_MARGIN_BYTES} bytes, rounded up to 16, for optimised-kernel\n"
        "// scratch buffers (e.g. CMSIS-NN) and arena alignment.\n"
        f"constexpr int kTensorArenaSize = {arena};\n\n"
        f"#endif  // {guard}\n"
    )


def _model_ops_h(identifier, info):
    guard = _guard("model_ops.h", identifier)
    ops = info.op_names
    calls = "\n".join(
        f"  if ((status = resolver.{MICRO_OP_METHODS[op]}()) != kTfLiteOk) return status;  // {op}" for op in ops
    )
    return (
        _header("The operators of the model, and only those.", info)
        + f"#ifndef {guard}\n#define {guard}\n\n"
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
        f"constexpr unsigned int kModelOpCount = {len(ops)};\n"
        "using ModelOpResolver = tflite::MicroMutableOpResolver<kModelOpCount>;\n\n"
        "// Registers every operator the model uses; any other kernel stays out of the firmware.\n"
        "inline TfLiteStatus RegisterModelOps(ModelOpResolver& resolver) {\n"
        "  TfLiteStatus status;\n"
        f"{calls}\n"
        "  return kTfLiteOk;\n"
        "}\n\n"
        f"#endif  // {guard}\n"
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


def write_c_arrays(tflite_bytes, out_dir, name="g_model", labels=None, arena_bytes=None, require_int8=True):
    """Writes ``model_data.h``, ``model_data.cc``, ``model_settings.h`` and ``model_ops.h`` into
    ``out_dir`` and returns ``{file name: path}``.

    ``name``: the C++ array name, sanitised into an identifier. ``labels``: one per
    output (default ``"0"``, ``"1"``, ...). ``arena_bytes``: the measured TFLite Micro
    arena (measured here when ``None``); the margin is added on top.
    ``require_int8``: refuse a model whose input, output or operators are not int8.
    Nothing is written unless every file is; an existing ``out_dir`` keeps its other files.
    """
    out_dir = check_output_dir(out_dir)
    info = parse(tflite_bytes)
    data = bytes(tflite_bytes)
    _check_model(info, require_int8)
    identifier = c_identifier(name)
    labels = _labels(labels, info)
    measured = int(arena_bytes) if arena_bytes is not None else measure_arena(data)
    contents = {
        "model_data.h": _model_data_h(identifier, info),
        "model_data.cc": _model_data_cc(identifier, data, info),
        "model_settings.h": _model_settings_h(identifier, info, labels, measured),
        "model_ops.h": _model_ops_h(identifier, info),
    }
    with staged_output_dir(out_dir) as staging:
        for file_name, text in contents.items():
            with open(os.path.join(staging, file_name), "w", encoding="ascii", newline="\n") as f:
                f.write(text)
    return {file_name: os.path.join(out_dir, file_name) for file_name in FILE_NAMES}


def samples_header(samples, input_elements):
    """C++ text of a samples header for ``microcontroller/tflm/main.cc``: ``kSampleCount`` and
    ``kSamples[kSampleCount][kInputElements]``, the int8 model inputs the firmware runs."""
    samples = np.asarray(samples)
    if samples.dtype != np.int8:
        raise TypeError(f"samples are {samples.dtype}; expected int8 (quantized model inputs)")
    if samples.ndim == 0 or len(samples) == 0:
        raise ValueError("samples is empty; expected at least one int8 input")
    rows = samples.reshape(len(samples), -1)
    if rows.shape[1] != input_elements:
        raise ValueError(f"samples have {rows.shape[1]} values each; expected the model's {input_elements} inputs")
    body = ",\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}" for row in rows)
    return (
        "// Int8 inputs for the TFLite Micro firmware (microcontroller/tflm/main.cc); generated by tfkd.\n"
        "#ifndef TFKD_SAMPLES_H_\n#define TFKD_SAMPLES_H_\n\n#include <cstdint>\n\n"
        f"constexpr int kSampleCount = {len(rows)};\n"
        f"alignas(16) const int8_t kSamples[kSampleCount][{input_elements}] = {{\n{body}\n}};\n\n"
        "#endif  // TFKD_SAMPLES_H_\n"
    )


def write_samples_header(samples, path, tflite_bytes):
    """Writes :func:`samples_header` of ``samples`` for the model ``tflite_bytes`` to ``path`` atomically."""
    info = parse(tflite_bytes)
    return atomic_write_text(path, samples_header(samples, info.inputs[0].elements))
