"""``TfliteModel``: one reader for TFLite flatbuffers, used by inspect, verify, C arrays and codegen.

``read_model(tflite_bytes)`` checks the buffer (:func:`tfkd.model.flatbuffer.verify`), parses it with
LiteRT's schema and checks that what the file says is self-consistent (tensor, buffer and opcode
indices in range, constant data the size its shape and type say, quantization parameters that fit
their tensor). A file that fails any of this raises :class:`ModelError` and nothing else.
The main subgraph (index 0) is described; ``subgraph_count`` says how many there are.
"""

import dataclasses

import numpy as np

from tfkd.model import flatbuffer
from tfkd.model.errors import ModelError
from tfkd.model.schema import OPERATOR_NAMES, TYPE_NAMES, schema

_NUMPY_TYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int8": np.int8,
                "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
                "int64": np.int64, "uint64": np.uint64, "bool": np.bool_}
# Operators whose constant inputs are trained parameters (weights and biases).
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "PRELU")
# Operators that only convert between float and int8 at the model's boundary.
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")
# No MCU model comes near this; larger counts are corrupt fields.
_MAX_ELEMENTS = 1 << 31


@dataclasses.dataclass
class Tensor:
    """One tensor of the main subgraph; ``data`` holds a constant's values (None for activations)."""

    index: int
    name: str
    shape: tuple
    dtype: str
    scales: np.ndarray
    zero_points: np.ndarray
    quantized_dimension: int
    data: np.ndarray = None
    stored_bytes: int = 0

    @property
    def elements(self):
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    size = elements

    @property
    def constant(self):
        return self.stored_bytes > 0

    @property
    def bytes(self):
        itemsize = np.dtype(_NUMPY_TYPES[self.dtype]).itemsize if self.dtype in _NUMPY_TYPES else 0
        return self.stored_bytes or self.elements * itemsize

    @property
    def quantization(self):
        """``(scale, zero_point)`` of a per-tensor quantized tensor, else ``None``."""
        if len(self.scales) == 1:
            return float(self.scales[0]), int(self.zero_points[0]) if len(self.zero_points) else 0
        return None

    @property
    def scale(self):
        """The per-tensor scale as float32 (what the kernels compute with)."""
        return np.float32(self.scales[0])

    @property
    def zero_point(self):
        return int(self.zero_points[0]) if len(self.zero_points) else 0


@dataclasses.dataclass
class Operator:
    """One operator in execution order: tensor indices (-1 for an absent optional input) and options."""

    index: int
    name: str
    inputs: tuple
    outputs: tuple
    options: object
    macs: int = 0

    @property
    def kind(self):
        return self.name


@dataclasses.dataclass
class TfliteModel:
    """What a TFLite flatbuffer holds (main subgraph). ``arena_bytes`` is set by ``tfkd.export.describe``."""

    flatbuffer_bytes: int
    subgraph_count: int
    operators: list
    tensors: list
    input_indices: list
    output_indices: list
    arena_bytes: int = None

    @property
    def inputs(self):
        return [self.tensors[i] for i in self.input_indices]

    @property
    def outputs(self):
        return [self.tensors[i] for i in self.output_indices]

    @property
    def op_names(self):
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.name for op in self.operators))

    @property
    def macs(self):
        return sum(op.macs for op in self.operators)

    def readers(self, tensor_index):
        """The operators that take tensor ``tensor_index`` as an input."""
        return [op for op in self.operators if tensor_index in op.inputs]

    def writers(self, tensor_index):
        """The operators that write tensor ``tensor_index``."""
        return [op for op in self.operators if tensor_index in op.outputs]

    def _parameters(self):
        return {i for op in self.operators if op.name in WEIGHTED_OPS for i in op.inputs
                if i >= 0 and self.tensors[i].constant}

    @property
    def parameter_count(self):
        return sum(self.tensors[i].elements for i in self._parameters())

    @property
    def weight_bytes(self):
        return sum(self.tensors[i].bytes for i in self._parameters())

    def float_operators(self, include_boundary=False):
        """Operators that read or write float32 activations; QUANTIZE/DEQUANTIZE only with ``include_boundary``."""
        found = []
        for op in self.operators:
            if op.name in BOUNDARY_OPS and not include_boundary:
                continue
            activations = [self.tensors[i] for i in op.inputs + op.outputs if i >= 0 and not self.tensors[i].constant]
            if any(t.dtype == "float32" for t in activations):
                found.append(op)
        return found

    def int8_quantization(self, tensor):
        """``(scale, zero_point)`` of the int8 side of an input or output tensor.

        For a float-I/O model the boundary tensor is float; its int8 twin is the output of the
        QUANTIZE that reads it, or the input of the DEQUANTIZE that writes it.
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
            "operators": [{"index": op.index, "name": op.name, "inputs": list(op.inputs),
                           "outputs": list(op.outputs), "macs": op.macs} for op in self.operators],
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
        }

    def format_table(self):
        """Readable text: summary, operator table and tensor table."""
        arena = "not measured" if self.arena_bytes is None else f"{self.arena_bytes:,} (measured in TFLite Micro)"
        lines = [
            f"flatbuffer bytes  {self.flatbuffer_bytes:,}",
            f"arena bytes       {arena}",
            f"parameters        {self.parameter_count:,} ({self.weight_bytes:,} bytes of weights and biases)",
            f"MACs / inference  {self.macs:,}",
            f"ops ({len(self.op_names)})          {', '.join(self.op_names)}",
            "",
            f"{'#':>3}  {'operator':<22} {'inputs':<16} {'outputs':<10} {'MACs':>12}",
        ]
        for op in self.operators:
            lines.append(f"{op.index:>3}  {op.name:<22} {_indices(op.inputs):<16} {_indices(op.outputs):<10} "
                         f"{op.macs:>12,}")
        lines += ["", f"{'#':>3}  {'type':<8} {'shape':<18} {'bytes':>8}  {'scale':>11} {'zp':>5}  name"]
        for t in self.tensors:
            quant = t.quantization
            scale = f"{quant[0]:.5g}" if quant else ("per-axis" if len(t.scales) else "-")
            zero = str(quant[1]) if quant else "-"
            kind = "const" if t.constant else ""
            lines.append(f"{t.index:>3}  {t.dtype:<8} {str(list(t.shape)):<18} {t.bytes:>8,}  {scale:>11} {zero:>5}  "
                         f"{kind:<5} {t.name}")
        return "\n".join(lines)


def _tensor_dict(t):
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quantization": t.quantization}


def _indices(indices):
    return ",".join(str(i) for i in indices)


def _text(raw):
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def check_flatbuffer(tflite_bytes):
    """Returns ``tflite_bytes`` as ``bytes`` once its identifier and every offset in it check out."""
    if not isinstance(tflite_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"tflite_bytes must be bytes, got {type(tflite_bytes).__name__}")
    data = bytes(tflite_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        head = data[:8].hex() or "(empty)"
        raise ModelError(f"input is not a TFLite flatbuffer: {len(data)} bytes starting {head}; "
                         "expected the file identifier 'TFL3' at bytes 4-8")
    flatbuffer.verify(data)
    return data


# A zero point is a value of the tensor's own type.
_ZERO_POINT_LIMITS = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _tensor(index, t, buffers, size):
    where = f"tensor #{index}"
    dtype = TYPE_NAMES.get(t.type)
    if dtype is None:
        raise ModelError(f"{where} has type code {t.type}; expected a TFLite TensorType")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.float64)) > _MAX_ELEMENTS:
        raise ModelError(f"{where} has shape {shape}; expected non-negative dimensions of at most "
                         f"{_MAX_ELEMENTS:,} elements in all")
    q = t.quantization
    scales = np.asarray(q.scale if q is not None and q.scale is not None else (), dtype=np.float32).reshape(-1)
    zero_points = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else (), dtype=np.int64)
    zero_points = zero_points.reshape(-1)
    axis = int(q.quantizedDimension) if q is not None else 0
    if len(zero_points) not in (0, len(scales)) or not np.all(np.isfinite(scales)):
        raise ModelError(f"{where} has {len(scales)} scales and {len(zero_points)} zero points; "
                         "expected finite scales and one zero point per scale")
    low, high = _ZERO_POINT_LIMITS.get(dtype, (None, None))
    outside = zero_points[(zero_points < low) | (zero_points > high)] if low is not None else ()
    if len(outside):
        raise ModelError(f"{where} ({dtype}) has zero point {int(outside[0])}; expected values in [{low}, {high}]")
    if len(scales) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scales)):
        raise ModelError(f"{where} of shape {shape} has {len(scales)} scales along axis {axis}; "
                         "expected one per entry of that axis")
    if not 0 <= t.buffer < max(len(buffers), 1):
        raise ModelError(f"{where} uses buffer {t.buffer}; the model has {len(buffers)}")
    buffer = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
    raw, stored = None, 0
    if buffer is not None:
        if buffer.data is not None and len(buffer.data):
            raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
        elif buffer.offset > 1:
            if buffer.offset + buffer.size > size:
                raise ModelError(f"{where} data at bytes {buffer.offset}+{buffer.size} lies outside the "
                                 f"{size}-byte file")
            stored = int(buffer.size)
    data = None
    if raw is not None:
        stored = len(raw)
        numpy_type = _NUMPY_TYPES.get(dtype)
        if numpy_type is not None:
            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(numpy_type).itemsize if shape else \
                np.dtype(numpy_type).itemsize
            if stored != expected:
                raise ModelError(f"{where} ({dtype}, shape {shape}) holds {stored} bytes of data; expected {expected}")
            data = np.frombuffer(raw, dtype=numpy_type).reshape(shape)
    return Tensor(index, _text(t.name), shape, dtype, scales, zero_points, axis, data, stored)


def _macs(name, inputs, outputs, tensors, options):
    """Multiply-accumulates per inference (batch 1); pooling counts one per window element."""
    if not outputs:
        return 0
    out = tensors[outputs[0]]

    def shape(k):
        return tensors[inputs[k]].shape if len(inputs) > k and inputs[k] >= 0 else ()

    if name == "CONV_2D" and len(shape(1)) == 4:  # filter [out_channels, kh, kw, in_channels]
        return out.elements * int(np.prod(shape(1)[1:]))
    if name == "DEPTHWISE_CONV_2D" and len(shape(1)) == 4:  # filter [1, kh, kw, channels]
        return out.elements * shape(1)[1] * shape(1)[2]
    if name == "FULLY_CONNECTED" and shape(1):  # filter [units, in_features]
        return out.elements * shape(1)[-1]
    if name == "TRANSPOSE_CONV" and len(shape(1)) == 4 and len(inputs) > 2:  # inputs: shape, filter, x
        return tensors[inputs[2]].elements * shape(1)[0] * shape(1)[1] * shape(1)[2]
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D") and options is not None:
        return out.elements * int(getattr(options, "filterHeight", 0)) * int(getattr(options, "filterWidth", 0))
    if name == "MEAN" and inputs:
        return tensors[inputs[0]].elements
    return 0


def read_model(tflite_bytes):
    """Checks and parses ``tflite_bytes`` into a :class:`TfliteModel`; :class:`ModelError` when it is unusable."""
    data = check_flatbuffer(tflite_bytes)
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception as e:  # the checks above should make this unreachable; never let it escape raw
        raise ModelError(f"TFLite flatbuffer of {len(data)} bytes is corrupt: {type(e).__name__}: {e}") from e
    if not model.subgraphs:
        raise ModelError("TFLite flatbuffer has no subgraph; expected one main subgraph")
    graph = model.subgraphs[0]
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    tensors = [_tensor(i, t, buffers, len(data)) for i, t in enumerate(graph.tensors or [])]

    def indices(values, what, optional=False):
        values = tuple(int(v) for v in (values if values is not None else ()))
        low = -1 if optional else 0
        bad = [v for v in values if not low <= v < len(tensors)]
        if bad:
            raise ModelError(f"{what} refers to tensor {bad[0]}; the model has {len(tensors)} tensors")
        return values

    operators = []
    for index, op in enumerate(graph.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise ModelError(f"operator #{index} uses opcode {op.opcodeIndex}; the model has {len(codes)}")
        code = codes[op.opcodeIndex]
        # Models written before builtin codes passed 127 keep them in the deprecated field.
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        name = OPERATOR_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{_text(code.customCode)}"
        inputs = indices(op.inputs, f"operator #{index} ({name})", optional=True)
        outputs = indices(op.outputs, f"operator #{index} ({name})")
        options = op.builtinOptions
        operators.append(Operator(index, name, inputs, outputs, options, _macs(name, inputs, outputs, tensors, options)))
    return TfliteModel(
        flatbuffer_bytes=len(data),
        subgraph_count=len(model.subgraphs),
        operators=operators,
        tensors=tensors,
        input_indices=list(indices(graph.inputs, "the subgraph's input list")),
        output_indices=list(indices(graph.outputs, "the subgraph's output list")),
    )
