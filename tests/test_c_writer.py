"""tfkd.c_writer: identifiers, literals and arrays that a C compiler accepts, and all-or-nothing writes."""

import doctest
import shutil
import subprocess

import numpy as np
import pytest

from tfkd import c_writer
from tfkd.errors import InputError


@pytest.mark.parametrize("name, expected", [("g_model", "g_model"), ("digits net-2", "digits_net_2"),
                                            ("2fast", "model_2fast"), ("int", "int_"), ("__x__", "x"),
                                            ("é", "model")])
def test_identifiers(name, expected):
    assert c_writer.identifier(name) == expected


@pytest.mark.parametrize("name, expected", [("g_model", "GModel"), ("kws", "Kws"), ("my-net v2", "MyNetV2")])
def test_camel_words(name, expected):
    assert c_writer.camel(name) == expected


def test_arrays_of_bytes_rows_and_named_sizes():
    assert c_writer.array("unsigned char", "m", b"\x00\x7f\xff", per_line=2, align=16, hex_bytes=True, dims=[""]) == (
        "alignas(16) const unsigned char m[] = {\n    0x00, 0x7f,\n    0xff,\n};")
    rows = np.array([[1, -2], [3, 4]], np.int8)
    assert c_writer.array("int8_t", "s", rows, dims=["kCount", 2]) == (
        "const int8_t s[kCount][2] = {\n    {1, -2},\n    {3, 4},\n};")
    with pytest.raises(InputError, match="expected integers"):
        c_writer.array("float", "f", [0.5])


def test_comments_cannot_splice_or_close():
    assert c_writer.line_comments("a\\\nb */") == "// a\n// b */\n"
    assert c_writer.comment("x */ y\nz") == "x * / y z"


def test_bad_names_and_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="name='' is invalid"):
        c_writer.identifier("")
    with pytest.raises(InputError, match="expected a plain file name"):
        c_writer.write_sources(tmp_path / "out", {"../x.h": "int x;\n"})
    with pytest.raises(InputError, match="expected ASCII"):
        c_writer.write_sources(tmp_path / "out", {"a.h": "ok\n", "b.h": "caf\u00e9\n"})
    assert not (tmp_path / "out").exists()  # nothing written, not even the valid file


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host C compiler")
def test_two_models_compile_into_one_program(tmp_path):
    """Prefixed guards and names let two models' sources live in one image; the values survive compilation."""
    sources = {}
    for model in ("digits", "kws"):
        label = c_writer.string(model + ' ?"')
        body = (f"#define {c_writer.prefix(model)}LABEL {label}\n"
                + c_writer.array("signed char", f"{c_writer.identifier(model)}_weights", [-128, 0, 127], align=16))
        sources[f"{model}.h"] = c_writer.guarded_header("model.h", model, body, includes=("<stdalign.h>",))
    sources["main.c"] = ('#include <stdio.h>\n#include "digits.h"\n#include "kws.h"\n#include "digits.h"\n'
                         'int main(void) { printf("%s|%s|%d|%d\\n", DIGITS_LABEL, KWS_LABEL, digits_weights[0], '
                         'kws_weights[2]); return 0; }\n')
    paths = c_writer.write_sources(tmp_path, sources)
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-o", str(tmp_path / "main"), paths["main.c"]],
                   check=True, cwd=tmp_path)
    output = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout
    assert output == 'digits ?"|kws ?"|-128|127\n'


def test_docstring_examples():
    failures, attempted = doctest.testmod(c_writer)
    assert attempted > 0 and failures == 0
