"""Reading an int8 TFLite flatbuffer into a small, validated graph description.

The graph is what the rest of the code generator works from: tensors (shape, type,
quantisation, constant data) and operators in execution order. Only what ahead-of-time
code generation can honour is accepted; anything else is a ValueError naming it.
"""

import dataclasses

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

_OPERATOR_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_NUMPY_TYPES = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64}


@dataclasses.dataclass
class Tensor:
    """One tensor of the graph; ``data`` is set for constants (weights, biases, shapes)."""

    index: int
    name: str
    shape: tuple
    dtype: str
    scales: np.ndarray
    zero_points: np.ndarray
    quantized_dimension: int
    data: np.ndarray = None

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def scale(self):
        """The per-tensor scale (float32) of an activation tensor."""
        return np.float32(self.scales[0])

    @property
    def zero_point(self):
        return int(self.zero_points[0])


@dataclasses.dataclass
class Operator:
    """One operator: its builtin name, tensor indices (-1 for an absent optional input) and options."""

    index: int
    kind: str
    inputs: tuple
    outputs: tuple
    options: object


@dataclasses.dataclass
class Graph:
    tensors: list
    operators: list
    input: int
    output: int


def _name(raw):
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _tensor(index, t, buffers):
    dtype = _TYPE_NAMES.get(t.type, str(t.type))
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    q = t.quantization
    has_scale = q is not None and q.scale is not None and len(q.scale) > 0
    scales = np.asarray(q.scale, dtype=np.float32) if has_scale else np.zeros(0, np.float32)
    zero_points = np.asarray(q.zeroPoint, dtype=np.int64) if has_scale else np.zeros(0, np.int64)
    data = None
    raw = buffers[t.buffer].data if 0 < t.buffer < len(buffers) else None
    if raw is not None and len(raw):
        if t.type not in _NUMPY_TYPES:
            raise ValueError(f"constant tensor {_name(t.name)!r} has type {dtype}; expected INT8, INT32 or INT64")
        data = np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=_NUMPY_TYPES[t.type]).reshape(shape)
    return Tensor(index, _name(t.name), shape, dtype, scales, zero_points,
                  int(q.quantizedDimension) if q is not None else 0, data)


def read_graph(tflite_bytes):
    """Parses ``tflite_bytes`` into a :class:`Graph`; raises ValueError for what code generation cannot honour."""
    if not isinstance(tflite_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"tflite_bytes must be bytes, got {type(tflite_bytes).__name__}")
    data = bytes(tflite_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("input is not a TFLite flatbuffer (missing the 'TFL3' identifier)")
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if len(model.subgraphs) != 1:
        raise ValueError(f"model has {len(model.subgraphs)} subgraphs; code generation supports exactly 1")
    subgraph = model.subgraphs[0]
    tensors = [_tensor(i, t, model.buffers) for i, t in enumerate(subgraph.tensors)]
    operators = []
    for i, op in enumerate(subgraph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        # Models written before builtin codes passed 127 keep them in the deprecated field.
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        kind = _OPERATOR_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if builtin == schema.BuiltinOperator.CUSTOM:
            kind = f"CUSTOM ({_name(code.customCode)})"
        inputs = tuple(int(x) for x in (op.inputs if op.inputs is not None else ()))
        outputs = tuple(int(x) for x in (op.outputs if op.outputs is not None else ()))
        operators.append(Operator(i, kind, inputs, outputs, op.builtinOptions))
    graph_inputs = list(subgraph.inputs if subgraph.inputs is not None else ())
    graph_outputs = list(subgraph.outputs if subgraph.outputs is not None else ())
    if len(graph_inputs) != 1 or len(graph_outputs) != 1:
        raise ValueError(
            f"model has {len(graph_inputs)} inputs and {len(graph_outputs)} outputs; "
            "code generation supports exactly one of each"
        )
    graph = Graph(tensors, operators, int(graph_inputs[0]), int(graph_outputs[0]))
    for role, index in (("input", graph.input), ("output", graph.output)):
        tensor = tensors[index]
        if tensor.dtype != "INT8":
            raise ValueError(
                f"model {role} {tensor.name!r} is {tensor.dtype}; code generation needs an int8 {role} "
                "(convert with tfkd.export.to_tflite(..., io='int8'))"
            )
    if not operators:
        raise ValueError("model has no operators")
    return graph
