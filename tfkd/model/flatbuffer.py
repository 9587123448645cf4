"""Bounds checks of a TFLite flatbuffer before anything reads it.

The Python flatbuffers runtime has no verifier, and its readers accept negative and
out-of-range offsets silently (``struct.unpack_from`` counts a negative offset from the end),
while TFLite Micro's C++ reader trusts the file completely. :func:`verify` walks every table,
vector and string the model reader and the runtimes use, following the TFLite schema
(``schema.fbs``), and raises :class:`ModelError` at the first offset, length or vtable that
leaves the buffer. Tables whose layout is not spelled out here (builtin options, sparsity,
signatures) get the generic check: their vtable and every inline field lie in the buffer.
"""

import struct

from tfkd.model.errors import ModelError

# Field kinds: a scalar byte size, "string", ("vector", element_bytes), ("tables", spec),
# ("table", spec), or ("union", type_field) for a union value whose type sits in another field.
GENERIC = None
_QUANTIZATION = {0: ("vector", 4), 1: ("vector", 4), 2: ("vector", 4), 3: ("vector", 8), 5: ("table", GENERIC), 6: 4}
_TENSOR = {0: ("vector", 4), 1: 1, 2: 4, 3: "string", 4: ("table", _QUANTIZATION), 5: 1,
           6: ("table", GENERIC), 7: ("vector", 4), 8: 1, 9: ("tables", GENERIC), 10: 4}
_OPERATOR = {0: 4, 1: ("vector", 4), 2: ("vector", 4), 3: 1, 4: ("table", GENERIC), 5: ("vector", 1), 6: 1,
             7: ("vector", 1), 8: ("vector", 4), 9: 8, 10: 8, 11: 1, 12: ("table", GENERIC), 13: 4}
_SUBGRAPH = {0: ("tables", _TENSOR), 1: ("vector", 4), 2: ("vector", 4), 3: ("tables", _OPERATOR), 4: "string", 5: 4}
_OPERATOR_CODE = {0: 1, 1: "string", 2: 4, 3: 4}
_BUFFER = {0: ("vector", 1), 1: 8, 2: 8}
_METADATA = {0: "string", 1: 4}
MODEL = {0: 4, 1: ("tables", _OPERATOR_CODE), 2: ("tables", _SUBGRAPH), 3: "string", 4: ("tables", _BUFFER),
         5: ("vector", 4), 6: ("tables", _METADATA), 7: ("tables", GENERIC), 8: ("tables", GENERIC),
         9: ("tables", GENERIC)}

# Builtin options whose vectors the reader uses (union type code -> layout); the rest are generic.
_OPTIONS_WITH_VECTORS = {"ReshapeOptions": {0: ("vector", 4)}, "SqueezeOptions": {0: ("vector", 4)}}
# Deeper than any real model nests; stops a crafted cycle of sub-tables.
_MAX_DEPTH = 8


class _Checker:
    def __init__(self, data, options_layouts):
        self.data = data
        self.size = len(data)
        self.options_layouts = options_layouts

    def fail(self, what, position):
        raise ModelError(f"TFLite flatbuffer of {self.size} bytes is corrupt: {what} at byte {position} "
                         "lies outside the file; expected a model written by the TFLite converter")

    def read(self, fmt, position, what):
        width = struct.calcsize(fmt)
        if position < 0 or position + width > self.size:
            self.fail(what, position)
        return struct.unpack_from(fmt, self.data, position)[0]

    def offset(self, position, what):
        """The absolute position a uoffset stored at ``position`` points to."""
        return position + self.read("<I", position, what)

    def vector(self, position, element_bytes, what):
        start = self.offset(position, what)
        length = self.read("<I", start, f"{what} length")
        if start + 4 + length * element_bytes > self.size:
            self.fail(f"{what} of {length} elements", start)
        return start + 4, length

    def table(self, position, spec, what, depth=0):
        if depth > _MAX_DEPTH:
            raise ModelError(f"TFLite flatbuffer of {self.size} bytes is corrupt: tables nest deeper than "
                             f"{_MAX_DEPTH} levels at byte {position}")
        vtable = position - self.read("<i", position, f"{what} table")
        vtable_bytes = self.read("<H", vtable, f"{what} vtable")
        table_bytes = self.read("<H", vtable + 2, f"{what} vtable")
        if vtable_bytes < 4 or vtable_bytes % 2 or vtable + vtable_bytes > self.size:
            self.fail(f"{what} vtable of {vtable_bytes} bytes", vtable)
        if table_bytes < 4 or position + table_bytes > self.size:
            self.fail(f"{what} table of {table_bytes} bytes", position)
        fields = {}
        for field in range((vtable_bytes - 4) // 2):
            slot = self.read("<H", vtable + 4 + 2 * field, f"{what} vtable")
            if slot == 0:
                continue
            if slot < 4 or slot >= table_bytes:
                self.fail(f"{what} field {field}", position + slot)
            fields[field] = position + slot
        for field, at in fields.items():
            kind = spec.get(field, GENERIC) if spec is not GENERIC else GENERIC
            name = f"{what} field {field}"
            if kind is GENERIC:
                if at + 1 > position + table_bytes:
                    self.fail(name, at)
            elif isinstance(kind, int):
                if at + kind > position + table_bytes:
                    self.fail(name, at)
            elif kind == "string":
                self.vector(at, 1, name)
            elif kind[0] == "vector":
                self.vector(at, kind[1], name)
            elif kind[0] == "table":
                layout = kind[1]
                if spec is _OPERATOR and field == 4 and 3 in fields:
                    layout = self.options_layouts.get(self.read("<B", fields[3], name), GENERIC)
                self.table(self.offset(at, name), layout, name, depth + 1)
            elif kind[0] == "tables":
                start, length = self.vector(at, 4, name)
                for i in range(length):
                    self.table(self.offset(start + 4 * i, f"{name}[{i}]"), kind[1], f"{name}[{i}]", depth + 1)
        return fields


def _options_layouts():
    from tfkd.model.schema import schema

    return {getattr(schema.BuiltinOptions, name): layout for name, layout in _OPTIONS_WITH_VECTORS.items()}


def verify(data):
    """Raises :class:`ModelError` unless every table, vector and string of ``data`` lies inside it."""
    checker = _Checker(data, _options_layouts())
    checker.table(checker.offset(0, "root table offset"), MODEL, "model")
