"""The one flatbuffer schema package tfkd reads TFLite models with: LiteRT's generated Python.

LiteRT is the runtime tfkd deploys to and needs no TensorFlow import, so inspecting a model
stays fast. Enum names are looked up here rather than spelled as integers elsewhere.
"""

from ai_edge_litert import schema_py_generated as schema


def _names(enum):
    return {code: name for name, code in vars(enum).items() if not name.startswith("_")}


OPERATOR_NAMES = _names(schema.BuiltinOperator)
TYPE_NAMES = {code: name.lower() for code, name in _names(schema.TensorType).items()}
ACTIVATION_NAMES = _names(schema.ActivationFunctionType)
PADDING_NAMES = _names(schema.Padding)
