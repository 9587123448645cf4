"""The firmware templates use only what write_c_arrays writes; the Arduino zip has the library layout.

Building and running them against real TFLite Micro: tests/test_tflm_firmware.py and test_tflm_arduino.py."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tfkd
from tfkd.export.arduino import write_arduino_library

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = [
    os.path.join(ROOT, "microcontroller", "tflm", "main.cc"),
    os.path.join(ROOT, "microcontroller", "arduino", "tfkd_classifier", "tfkd_classifier.ino"),
]
GENERATED_HEADERS = ("model_data.h", "model_settings.h", "model_ops.h")
# Names the templates take from the generated headers: the model array and the settings/ops prefixes.
GENERATED_NAME = re.compile(r"\b(g_model\w*|k(?:Input|Output|Category|TensorArena|ModelOp)\w*|Model\w*Type|"
                            r"ModelOpResolver|RegisterModelOps)\b")


@pytest.fixture(scope="module")
def int8_model():
    (x, _), _, names = tfkd.data.load("digits")
    model = tfkd.models.cnn_student((8, 8, 1), 10)
    return tfkd.export.to_tflite(model, x[:64]), names


@pytest.fixture(scope="module")
def micro_dir(int8_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("micro")
    tfkd.export.write_c_arrays(int8_model[0], out, labels=int8_model[1])
    return out


def _identifiers(text):
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)  # comments name things too
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return set(re.findall(r"\b[A-Za-z_]\w*\b", text))


def _declared(micro_dir):
    """Every name the generated headers contain outside comments and strings."""
    return set().union(*(_identifiers((micro_dir / header).read_text()) for header in GENERATED_HEADERS))


@pytest.mark.parametrize("template", TEMPLATES, ids=os.path.basename)
def test_template_uses_only_generated_symbols(template, micro_dir):
    text = open(template, encoding="utf-8").read()
    for header in GENERATED_HEADERS:
        assert f'#include "{header}"' in text
    declared = _declared(micro_dir)
    assert {"g_model", "g_model_len", "kTensorArenaSize", "kInputScale", "RegisterModelOps"} <= declared
    used = {name for name in _identifiers(text) if GENERATED_NAME.fullmatch(name)}
    assert used, "template uses nothing from the generated headers"
    assert used <= declared, f"template uses names the generated headers lack: {sorted(used - declared)}"
    # The set-up every TFLM program needs: map the model, register its ops, allocate the arena, invoke.
    for needed in ("GetModel(g_model)", "RegisterModelOps(", "kTensorArenaSize", "Invoke()", "kInputElements"):
        assert needed in text, needed
    if template.endswith(".ino"):  # the interactive sketch also (de)quantizes and names the class
        for needed in ("kCategoryLabels[", "kInputZeroPoint", "kOutputZeroPoint"):
            assert needed in text, needed


def test_settings_header_compiles_with_a_translation_unit_using_it(micro_dir, tmp_path):
    """model_data.h/.cc and model_settings.h need nothing but the C++ standard library."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    source = tmp_path / "use_settings.cc"
    source.write_text(
        '#include <cstdio>\n#include "model_data.h"\n#include "model_settings.h"\n'
        "alignas(16) static unsigned char arena[kTensorArenaSize];\n"
        "int main() {\n"
        "  static_assert(kInputElements > 0 && kOutputElements == kCategoryCount, \"shapes\");\n"
        "  int elements = 1;\n"
        "  for (int i = 0; i < kInputDims; ++i) elements *= kInputShape[i];\n"
        "  ModelInputType q = static_cast<ModelInputType>(kInputZeroPoint);\n"
        "  std::printf(\"%u %d %d %f %d %s %d %d\\n\", g_model_len, elements, (int)sizeof(arena), kInputScale,\n"
        "              (int)q, kCategoryLabels[0], kTensorArenaMeasured, (int)g_model[4]);\n"
        "  return elements == kInputElements ? 0 : 1;\n"
        "}\n"
    )
    binary = tmp_path / "use_settings"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", f"-I{micro_dir}", str(source),
                    str(micro_dir / "model_data.cc"), "-o", str(binary)], check=True)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.split()
    # The program reads the flatbuffer identifier byte ('T' of "TFL3") straight from g_model.
    assert out[-1] == str(ord("T"))


def test_arduino_library_zip_layout(int8_model, tmp_path):
    tflite_bytes, names = int8_model
    path = write_arduino_library(tflite_bytes, tmp_path / "tfkd_model.zip", name="tfkd_model", labels=names,
                                 arena_bytes=4096)
    with zipfile.ZipFile(path) as archive:
        listed = set(archive.namelist())
        properties = archive.read("tfkd_model/library.properties").decode()
        data = archive.read("tfkd_model/src/model_data.cpp").decode()
        main_header = archive.read("tfkd_model/src/tfkd_model.h").decode()
    assert listed == {
        "tfkd_model/library.properties",
        "tfkd_model/src/tfkd_model.h",
        "tfkd_model/src/model_data.h",
        "tfkd_model/src/model_data.cpp",
        "tfkd_model/src/model_settings.h",
        "tfkd_model/src/model_ops.h",
    }
    fields = dict(line.split("=", 1) for line in properties.splitlines())
    assert fields["name"] == "tfkd_model" and fields["includes"] == "tfkd_model.h"
    assert {"version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures"} <= set(fields)
    for header in GENERATED_HEADERS:
        assert f'#include "{header}"' in main_header
    # The model array in the zip is byte-identical to the flatbuffer.
    hex_bytes = re.findall(r"0x([0-9a-f]{2})", data.split("{", 1)[1])
    assert bytes(int(b, 16) for b in hex_bytes) == tflite_bytes
    # Same model, same zip: fixed timestamps.
    again = write_arduino_library(tflite_bytes, tmp_path / "again.zip", name="tfkd_model", labels=names,
                                  arena_bytes=4096)
    assert open(again, "rb").read() == open(path, "rb").read()


@pytest.mark.parametrize("name, out, message", [
    ("my library!", "lib.zip", "Arduino library name"),
    ("_lib", "lib.zip", "Arduino library name"),
    ("tfkd_model", "lib.tar", r"does not end in \.zip"),
])
def test_arduino_library_bad_input(int8_model, tmp_path, name, out, message):
    with pytest.raises(ValueError, match=message):
        write_arduino_library(int8_model[0], tmp_path / out, name=name, labels=int8_model[1], arena_bytes=4096)
    assert os.listdir(tmp_path) == []


def test_arduino_library_refuses_float_io_model(tmp_path):
    (x, _), _, _ = tfkd.data.load("digits")
    float_io = tfkd.export.to_tflite(tfkd.models.cnn_student((8, 8, 1), 10), x[:32], io="float")
    with pytest.raises(ValueError, match="not full-int8"):
        write_arduino_library(float_io, tmp_path / "lib.zip", arena_bytes=4096)
    assert not (tmp_path / "lib.zip").exists()


def test_cli_export_arduino_writes_the_library_zip(tmp_path):
    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    data = tmp_path / "data.npz"
    np.savez(data, x_train=x[:200], y_train=y[:200], x_test=x_test[:40], y_test=y_test[:40])
    tfkd.models.cnn_student((8, 8, 1), 10).save(tmp_path / "student.keras")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tfkd", "export", str(tmp_path / "student.keras"), "--data", str(data),
               "--out", str(out), "--arduino", "--arduino_name", "digits_model", "--quiet"]
    subprocess.run(command, check=True, capture_output=True)
    with zipfile.ZipFile(out / "digits_model.zip") as archive:
        data_cpp = archive.read("digits_model/src/model_data.cpp")
    assert data_cpp == (out / "micro" / "model_data.cc").read_bytes()

    bad = subprocess.run(command[:-3] + ["--arduino_name", "bad name", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Arduino library name 'bad name'" in bad.stderr
    assert not (tmp_path / "bad").exists()
