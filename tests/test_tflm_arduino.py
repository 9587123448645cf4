"""The Arduino library zip and sketch, compiled as C++ for a Cortex-M4 against TFLM_DIR and run in QEMU.

The Arduino toolchain is not available, so a small shim (microcontroller/tflm/arduino_shim) stands in
for the Arduino core: Serial reads one line of text and prints through semihosting.
"""

import os
import subprocess
import zipfile

import numpy as np
import pytest

from tfkd.export import write_arduino_library

import tflm_support
from tflm_support import build_tflm, tflm_firmware

FIRMWARE = tflm_firmware.FIRMWARE_DIR
SKETCH = os.path.join(tflm_support.ROOT, "microcontroller", "arduino", "tfkd_classifier", "tfkd_classifier.ino")
LABELS = [f"digit {i}" for i in range(10)]


def _quantization(details):
    parameters = details["quantization_parameters"]
    return float(parameters["scales"][0]), int(parameters["zero_points"][0])


@pytest.fixture(scope="module")
def sketch_run(tmp_path_factory):
    tflm = tflm_support.tflm_dir()
    manifest = build_tflm.library(tflm, "cortex-m4", "cmsis_nn")
    tflite_bytes, inputs = tflm_support.int8_model("digits_cnn")
    work = tmp_path_factory.mktemp("arduino")
    with zipfile.ZipFile(write_arduino_library(tflite_bytes, work / "tfkd_model.zip", labels=LABELS)) as archive:
        archive.extractall(work / "libraries")
    src = work / "libraries" / "tfkd_model" / "src"

    # The sketch reads floats preprocessed as in training; these dequantize the int8 inputs exactly.
    interpreter = tflm_support.reference_interpreter(tflite_bytes)
    scale, zero_point = _quantization(interpreter.get_input_details(0))
    lines = [" ".join(f"{(int(q) - zero_point) * scale:.9g}" for q in row) for row in inputs[:4]]
    (work / "shim_input.h").write_text(
        "static const char kShimSerialInput[] =\n" + "\n".join(f'    "{line}\\n"' for line in lines) + ";\n")

    elf = work / "sketch.elf"
    shim = os.path.join(FIRMWARE, "arduino_shim")
    includes = [shim, str(src), FIRMWARE, os.path.join(FIRMWARE, "cortex_m4"), *manifest["include_dirs"]]
    subprocess.run(
        ["arm-none-eabi-g++", "-std=c++17", "-O2", "-Wall", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
         "-ffunction-sections", "-fdata-sections", *manifest["cflags"], *[f"-I{d}" for d in includes],
         f"-DTFKD_SHIM_INPUT=\"{work / 'shim_input.h'}\"",
         # What the Arduino build does with a sketch: C++ with <Arduino.h> included first.
         "-x", "c++", "-include", "Arduino.h", SKETCH, "-x", "none",
         str(src / "model_data.cpp"), os.path.join(shim, "shim.cc"),
         os.path.join(FIRMWARE, "cortex_m4", "platform.cc"), os.path.join(FIRMWARE, "cortex_m4", "startup.cc"),
         manifest["lib"], "-T", os.path.join(FIRMWARE, "cortex_m4", "mps2_an386.ld"), "-nostartfiles",
         "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", "-lm", "-o", str(elf)],
        check=True, capture_output=True, text=True)
    result = subprocess.run([*tflm_firmware.QEMU, str(elf)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"text": result.stdout + result.stderr, "tflite": tflite_bytes, "inputs": inputs[:4],
            "interpreter": interpreter}


def test_sketch_and_library_zip_build_for_cortex_m4_and_classify(sketch_run):
    text = sketch_run["text"]
    assert "model ready:" in text
    expected = tflm_support.reference_outputs(sketch_run["tflite"], sketch_run["inputs"])
    scale, zero_point = _quantization(sketch_run["interpreter"].get_output_details(0))
    printed = [line for line in text.splitlines() if line.startswith("class ")]
    assert len(printed) == len(expected)
    for line, row in zip(printed, expected):
        top = int(np.argmax(row))
        assert line.startswith(f"class {top} ({LABELS[top]}), score ")
        assert float(line.rsplit(" ", 1)[1]) == pytest.approx(scale * (int(row[top]) - zero_point), abs=1e-3)
