"""Reading a TFLite flatbuffer: operators, tensors, parameters, MACs and bytes.

The flatbuffer is parsed with the schema that ships with LiteRT
(``ai_edge_litert.schema_py_generated``), the runtime tfkd deploys to, so that no
TensorFlow import is needed to inspect a model.

Example:

>>> info = describe(open("model_int8.tflite", "rb").read())   # doctest: +SKIP
>>> print(info.format_table())                                # doctest: +SKIP
"""

import dataclasses

import numpy as np
from ai_edge_litert import schema_py_generated as schema

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_TYPE_BYTES = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2,
               "int8": 1, "float64": 8, "uint64": 8, "uint32": 4, "uint16": 2}

# Operators whose constant inputs are trained parameters (weights and biases).
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "PRELU")
# Operators that only convert between float and int8 at the model's boundary.
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclasses.dataclass
class TensorInfo:
    """One tensor of the main subgraph."""

    index: int
    name: str
    shape: tuple
    dtype: str
    scales: tuple
    zero_points: tuple
    constant: bool
    bytes: int

    @property
    def elements(self):
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def quantization(self):
        """``(scale, zero_point)`` of a per-tensor quantized tensor, else ``None``."""
        if len(self.scales) == 1:
            return float(self.scales[0]), int(self.zero_points[0] if self.zero_points else 0)
        return None


@dataclasses.dataclass
class OperatorInfo:
    """One operator of the main subgraph, in execution order."""

    index: int
    name: str
    inputs: tuple
    outputs: tuple
    macs: int


@dataclasses.dataclass
class ModelInfo:
    """What a TFLite flatbuffer holds. ``arena_bytes`` is filled by :func:`describe`."""

    flatbuffer_bytes: int
    operators: list
    tensors: list
    inputs: list
    outputs: list
    parameter_count: int
    weight_bytes: int
    arena_bytes: int = None

    @property
    def op_names(self):
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.name for op in self.operators))

    @property
    def macs(self):
        return sum(op.macs for op in self.operators)

    def float_operators(self):
        """Operators other than QUANTIZE/DEQUANTIZE that read or write float32 activations."""
        found = []
        for op in self.operators:
            if op.name in BOUNDARY_OPS:
                continue
            activations = [self.tensors[i] for i in op.inputs + op.outputs if i >= 0 and not self.tensors[i].constant]
            if any(t.dtype == "float32" for t in activations):
                found.append(op)
        return found

    def int8_quantization(self, tensor):
        """``(scale, zero_point)`` of the int8 side of an input or output tensor.

        For a float-I/O model the boundary tensor is float; its int8 twin is the
        output of the QUANTIZE that reads it, or the input of the DEQUANTIZE that
        writes it.
        """
        if tensor.dtype != "float32":
            return tensor.quantization
        for op in self.operators:
            if op.name == "QUANTIZE" and op.inputs[0] == tensor.index:
                return self.tensors[op.outputs[0]].quantization
            if op.name == "DEQUANTIZE" and op.outputs[0] == tensor.index:
                return self.tensors[op.inputs[0]].quantization
        return None

    def as_dict(self):
        """A JSON-ready summary."""
        return {
            "flatbuffer_bytes": self.flatbuffer_bytes,
            "arena_bytes": self.arena_bytes,
            "parameter_count": self.parameter_count,
            "weight_bytes": self.weight_bytes,
            "macs": self.macs,
            "ops": self.op_names,
            "operators": [dataclasses.asdict(op) for op in self.operators],
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
        }

    def format_table(self):
        """Readable text: summary, operator table and tensor table."""
        lines = [
            f"flatbuffer bytes  {self.flatbuffer_bytes:,}",
            f"arena bytes       {'not measured' if self.arena_bytes is None else f'{self.arena_bytes:,} (measured in TFLite Micro)'}",
            f"parameters        {self.parameter_count:,} ({self.weight_bytes:,} bytes of weights and biases)",
            f"MACs / inference  {self.macs:,}",
            f"ops ({len(self.op_names)})          {', '.join(self.op_names)}",
            "",
            f"{'#':>3}  {'operator':<22} {'inputs':<16} {'outputs':<10} {'MACs':>12}",
        ]
        for op in self.operators:
            lines.append(
                f"{op.index:>3}  {op.name:<22} {_indices(op.inputs):<16} {_indices(op.outputs):<10} {op.macs:>12,}"
            )
        lines += ["", f"{'#':>3}  {'type':<8} {'shape':<18} {'bytes':>8}  {'scale':>11} {'zp':>5}  name"]
        for t in self.tensors:
            quant = t.quantization
            scale = f"{quant[0]:.5g}" if quant else ("per-axis" if t.scales else "-")
            zero = str(quant[1]) if quant else "-"
            kind = "const" if t.constant else ""
            lines.append(
                f"{t.index:>3}  {t.dtype:<8} {str(list(t.shape)):<18} {t.bytes:>8,}  {scale:>11} {zero:>5}  "
                f"{kind:<5} {t.name}"
            )
        return "\n".join(lines)


def _tensor_dict(t):
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quantization": t.quantization}


def _indices(indices):
    return ",".join(str(i) for i in indices)


def check_flatbuffer(tflite_bytes):
    """Returns ``tflite_bytes`` as ``bytes``; ValueError unless it is a TFLite flatbuffer."""
    if not isinstance(tflite_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"tflite_bytes must be bytes, got {type(tflite_bytes).__name__}")
    data = bytes(tflite_bytes)
    # A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8.
    if len(data) < 8 or not schema.Model.ModelBufferHasIdentifier(data, 0):
        head = data[:8].hex() or "(empty)"
        raise ValueError(
            f"input is not a TFLite flatbuffer: {len(data)} bytes starting {head}; "
            "expected the file identifier 'TFL3' at bytes 4-8"
        )
    return data


def parse(tflite_bytes):
    """Parses a TFLite flatbuffer into a :class:`ModelInfo` (main subgraph only)."""
    data = check_flatbuffer(tflite_bytes)
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # a corrupt flatbuffer fails anywhere inside the generated reader
        raise ValueError(f"TFLite flatbuffer of {len(data)} bytes is corrupt: {type(e).__name__}: {e}") from e
    if not model.subgraphs:
        raise ValueError("TFLite flatbuffer has no subgraph; expected one main subgraph")
    graph = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = [_tensor(i, t, buffers) for i, t in enumerate(graph.tensors or [])]
    operators = []
    for index, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            name = f"CUSTOM:{custom}"
        inputs = tuple(int(i) for i in (op.inputs if op.inputs is not None else ()))
        outputs = tuple(int(i) for i in (op.outputs if op.outputs is not None else ()))
        operators.append(OperatorInfo(index, name, inputs, outputs, _macs(name, inputs, outputs, tensors, op)))
    params = {i for op in operators if op.name in WEIGHTED_OPS for i in op.inputs if i >= 0 and tensors[i].constant}
    return ModelInfo(
        flatbuffer_bytes=len(data),
        operators=operators,
        tensors=tensors,
        inputs=[tensors[i] for i in graph.inputs],
        outputs=[tensors[i] for i in graph.outputs],
        parameter_count=sum(tensors[i].elements for i in params),
        weight_bytes=sum(tensors[i].bytes for i in params),
    )


def describe(tflite_bytes, measure_arena=True):
    """:func:`parse`, plus the TFLite Micro arena measured by :func:`tfkd.export.arena.measure_arena`."""
    info = parse(tflite_bytes)
    if measure_arena:
        from tfkd.export.arena import measure_arena as measure

        info.arena_bytes = measure(tflite_bytes)
    return info


def _tensor(index, t, buffers):
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    dtype = _TYPE_NAMES.get(t.type, f"type_{t.type}")
    buffer = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
    stored = 0
    if buffer is not None:
        stored = len(buffer.data) if buffer.data is not None else int(buffer.size)
    elements = int(np.prod(shape)) if shape else 1
    q = t.quantization
    scales = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ()))
    zero_points = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
    name = t.name.decode() if isinstance(t.name, bytes) else (t.name or "")
    return TensorInfo(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        scales=scales,
        zero_points=zero_points,
        constant=stored > 0,
        bytes=stored if stored else elements * _TYPE_BYTES.get(dtype, 0),
    )


def _macs(name, inputs, outputs, tensors, op):
    """Multiply-accumulates per inference (batch 1); pooling counts one per window element."""
    if not outputs or outputs[0] < 0:
        return 0
    out = tensors[outputs[0]]
    if name == "CONV_2D":  # filter [out_channels, kh, kw, in_channels]
        return out.elements * int(np.prod(tensors[inputs[1]].shape[1:]))
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, channels]: one kh*kw window per output
        shape = tensors[inputs[1]].shape
        return out.elements * shape[1] * shape[2]
    if name == "FULLY_CONNECTED":  # filter [units, in_features]
        return out.elements * tensors[inputs[1]].shape[-1]
    if name == "TRANSPOSE_CONV":  # filter [out_channels, kh, kw, in_channels], inputs: shape, filter, x
        filt = tensors[inputs[1]].shape
        return tensors[inputs[2]].elements * filt[0] * filt[1] * filt[2]
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        options = op.builtinOptions
        return out.elements * int(options.filterHeight) * int(options.filterWidth)
    if name == "MEAN":
        return tensors[inputs[0]].elements
    return 0
