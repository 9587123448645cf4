"""One way to write C and C++ sources: render every file to text, then write them all at once.

For the model arrays and settings (``tfkd.export.c_arrays``), the Arduino library
(``tfkd.export.arduino``) and the code generator (``tfkd.codegen.emitter``), which today
used to format identifiers, arrays and include guards each by hand. Every name a model
contributes carries a prefix from the model's name: :func:`prefix` for macros and include
guards, :func:`camel` for C++ constants and types, so two models can live in one firmware image.

>>> print(array("int8_t", "digits_weights", [1, -2, 3], per_line=2))
const int8_t digits_weights[3] = {
    1, -2,
    3,
};
>>> prefix("digits net")
'DIGITS_NET_'
>>> camel("digits net-2")
'DigitsNet2'
"""

import keyword
import os
import re

import numpy as np

from tfkd.errors import InputError
from tfkd.files import staged_output_dir

_CPP_KEYWORDS = frozenset(
    "alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class "
    "compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype "
    "default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline "
    "int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public "
    "register reinterpret_cast requires restrict return short signed sizeof static static_assert static_cast struct "
    "switch template this thread_local throw true try typedef typeid typename union unsigned using virtual void "
    "volatile wchar_t while xor xor_eq".split()
)


def identifier(name):
    """``name`` as a valid C and C++ identifier: other characters become ``_``, a leading digit gets
    ``model_`` in front, a keyword gets ``_`` behind, and reserved forms (``__x``, ``_X``) lose their underscores."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"name={name!r} is invalid; expected a non-empty string to build a C identifier from")
    text = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", name.strip())).strip("_") or "model"
    if text[0].isdigit():
        text = "model_" + text
    if text in _CPP_KEYWORDS or keyword.iskeyword(text):
        text += "_"
    return text


def prefix(name):
    """The prefix of a model's macros and constants: ``identifier(name)`` in upper case and ``_``."""
    return identifier(name).upper() + "_"


def camel(name):
    """``identifier(name)`` in CamelCase, the word a model's C++ constants carry (``kDigitsNetInputScale``)."""
    return "".join(part[:1].upper() + part[1:] for part in identifier(name).split("_"))


def string(text):
    """``text`` as a string literal: UTF-8, with quotes, backslashes, ``?`` and every non-printable or
    non-ASCII byte escaped in octal (hex escapes would swallow the digits after them)."""
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


def comment(text):
    """``text`` safe inside ``/* */`` on one line (model files name tensors; keep them from closing it)."""
    return str(text).replace("*/", "* /").replace("\n", " ")


def array(c_type, name, values, per_line=12, align=None, static=False, hex_bytes=False, dims=None):
    """``const <c_type> <name>[n] = {...};`` for integer ``values``, ``alignas(align)`` in front when given.

    ``values`` of two dimensions are rows, each between braces on a line of its own.
    ``dims``: the text between each pair of brackets (default: the counts); ``""`` leaves
    a size to the compiler, a constant's name ties it to that constant.
    """
    if isinstance(values, (bytes, bytearray, memoryview)):
        values = np.frombuffer(values, dtype=np.uint8)
    values = np.asarray(values)
    if values.ndim not in (1, 2) or (values.size and values.dtype.kind not in "iub"):
        raise InputError(f"{name}: values are {values.dtype} in {values.ndim} dimensions; "
                         "expected integers in 1 or 2 dimensions")
    shape = values.shape
    dims = [max(n, 1) for n in shape] if dims is None else list(dims)
    if len(dims) != values.ndim:
        raise InputError(f"{name}: got {len(dims)} dims for {values.ndim}-dimensional values; expected one a dimension")
    qualifiers = ("static " if static else "") + (f"alignas({align}) " if align else "")
    lines = [f"{qualifiers}const {c_type} {name}" + "".join(f"[{d}]" for d in dims) + " = {"]
    cell = (lambda v: f"0x{v & 0xFF:02x}") if hex_bytes else str
    if values.ndim == 2:
        lines += ["    {" + ", ".join(cell(v) for v in row) + "}," for row in values.tolist()]
    else:
        flat = values.tolist()
        for start in range(0, len(flat), per_line):
            lines.append("    " + ", ".join(cell(v) for v in flat[start:start + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def line_comments(text):
    """``text`` as ``//`` comment lines, one a line of ``text`` (a backslash ending a line would
    splice the next line into the comment, so trailing backslashes go)."""
    return "".join(f"// {line}".rstrip().rstrip("\\").rstrip() + "\n" for line in str(text).splitlines())


def guarded_header(file_name, model_name, body, includes=(), preamble=""):
    """A header with an include guard unique to the model and file, and its ``#include`` lines;
    ``preamble``, when given, stands above the guard as ``//`` comments."""
    guard = f"TFKD_{prefix(model_name)}{re.sub(r'[^A-Za-z0-9]', '_', file_name).upper()}_"
    parts = ["".join(f"#include {item}\n" for item in includes), body.rstrip("\n") + "\n" if body.strip() else ""]
    return (line_comments(preamble) + f"#ifndef {guard}\n#define {guard}\n\n" + "\n".join(p for p in parts if p)
            + f"\n#endif  // {guard}\n")


def write_sources(out_dir, sources):
    """Writes ``{file name: text}`` into ``out_dir``: all files or, if anything fails, none.

    The texts are rendered before this is called, so a rendering error writes nothing
    either; other files in ``out_dir`` are kept. Returns ``{file name: path}``.
    """
    for file_name, text in sources.items():
        if os.path.basename(file_name) != file_name or not file_name:
            raise InputError(f"source file name {file_name!r} is invalid; expected a plain file name")
        if not isinstance(text, str) or not text.isascii():
            raise InputError(f"{file_name}: expected ASCII text (escape other characters with c_writer.string)")
    with staged_output_dir(out_dir) as staging:
        for file_name, text in sources.items():
            with open(os.path.join(staging, file_name), "w", encoding="ascii", newline="\n") as f:
                f.write(text)
    return {file_name: os.path.join(os.fspath(out_dir), file_name) for file_name in sources}
