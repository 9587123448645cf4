"""tfkd's C arrays in real TFLite Micro firmware (microcontroller/tflm), on the host and on a Cortex-M4 in QEMU.

Each model is built once per module for the host (reference kernels) and for the Cortex-M4 with
CMSIS-NN kernels, and run on 32 digits inputs; the expected outputs come from the tflite-micro
Python interpreter, never from tfkd.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tfkd.export import write_c_arrays
from tfkd.export.c_arrays import write_samples_header

import tflm_support
from tflm_support import build_tflm, tflm_firmware

TARGETS = {"host": ("host", "reference"), "cortex-m4": ("cortex-m4", "cmsis_nn")}


@pytest.fixture(scope="module")
def tflm():
    return tflm_support.tflm_dir()


_BUILT = {}


def _firmware(name, tflm, tmp_path_factory):
    """Model, inputs, micro/ folder and what both firmware builds printed; built once per model."""
    if name in _BUILT:
        return _BUILT[name]
    tflite_bytes, inputs = tflm_support.int8_model(name)
    work = tmp_path_factory.mktemp(name)
    micro = work / "micro"
    write_c_arrays(tflite_bytes, micro)
    samples = write_samples_header(inputs, work / "samples.h", tflite_bytes)
    runs, programs = {}, {}
    for label, (target, kernels) in TARGETS.items():
        programs[label] = tflm_firmware.build(micro, work / f"build_{label}", target, kernels, tflm, samples=samples)
        runs[label] = tflm_firmware.run(programs[label], target)
    _BUILT[name] = {"name": name, "tflite": tflite_bytes, "inputs": inputs, "micro": micro, "work": work,
                    "runs": runs, "programs": programs, "settings": _settings(micro)}
    return _BUILT[name]


@pytest.fixture(scope="module", params=sorted(tflm_support.MODELS))
def firmware(request, tflm, tmp_path_factory):
    return _firmware(request.param, tflm, tmp_path_factory)


@pytest.fixture(scope="module")
def digits_firmware(tflm, tmp_path_factory):
    """For the checks that one model settles."""
    return _firmware("digits_cnn", tflm, tmp_path_factory)


def _settings(micro):
    text = (micro / "model_settings.h").read_text()
    return {name: int(value) for name, value in re.findall(r"constexpr int (k\w+) = (-?\d+);", text)}


@pytest.mark.parametrize("label", sorted(TARGETS))
def test_outputs_equal_the_python_tflm_interpreter_bit_for_bit(firmware, label):
    expected = tflm_support.reference_outputs(firmware["tflite"], firmware["inputs"])
    got = firmware["runs"][label]["outputs"]
    assert got.shape == expected.shape == (tflm_support.SAMPLE_COUNT, expected.shape[1])
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(got, axis=0)) > 1, "every input gave the same output: the comparison proves little"


@pytest.mark.parametrize("label", sorted(TARGETS))
def test_generated_arena_suffices_and_the_estimate_is_never_below_what_tflm_used(firmware, label, record_property):
    run, settings = firmware["runs"][label], firmware["settings"]
    # The firmware allocated and invoked with exactly kTensorArenaSize (it exits non-zero otherwise).
    assert run["arena_size"] == settings["kTensorArenaSize"]
    assert run["arena_estimate"] == settings["kTensorArenaMeasured"]
    record_property(f"{firmware['name']}_{label}_arena",
                    f"used {run['arena_used']}, tfkd estimate {run['arena_estimate']}, size {run['arena_size']}")
    print(f"{firmware['name']} on {label}: TFLM arena used {run['arena_used']} bytes, tfkd estimate "
          f"{run['arena_estimate']}, kTensorArenaSize {run['arena_size']}")
    assert 0 < run["arena_used"] <= run["arena_estimate"] <= run["arena_size"]


def test_arrays_are_16_byte_aligned_on_the_cortex_m4(firmware):
    run, elf = firmware["runs"]["cortex-m4"], firmware["programs"]["cortex-m4"]
    assert run["model_align"] == 0 and run["arena_align"] == 0
    assert tflm_firmware.symbol_address(elf, "g_model") % 16 == 0


def test_model_ops_registers_exactly_the_models_operators(firmware, tflm):
    """model_ops.h against the real MicroMutableOpResolver, asked for every builtin operator."""
    manifest = build_tflm.library(tflm, "host", "reference", build=False)
    probe = firmware["work"] / "ops_probe.cc"
    probe.write_text(
        '#include <cstdio>\n#include "model_ops.h"\n'
        '#include "tensorflow/lite/schema/schema_generated.h"\n'
        "int main() {\n"
        "  static ModelOpResolver resolver;\n"
        "  if (RegisterModelOps(resolver) != kTfLiteOk) return 1;\n"
        "  std::printf(\"count %u\\n\", resolver.GetRegistrationLength());\n"
        "  for (int op = tflite::BuiltinOperator_MIN; op <= tflite::BuiltinOperator_MAX; ++op) {\n"
        "    if (resolver.FindOp(static_cast<tflite::BuiltinOperator>(op)) != nullptr)\n"
        "      std::printf(\"op %s\\n\", tflite::EnumNameBuiltinOperator(static_cast<tflite::BuiltinOperator>(op)));\n"
        "  }\n"
        "  return 0;\n"
        "}\n"
    )
    binary = firmware["work"] / "ops_probe"
    includes = [f"-I{d}" for d in [firmware["micro"], *manifest["include_dirs"]]]
    subprocess.run(["g++", "-std=c++17", "-fno-rtti", "-fno-exceptions", *manifest["cflags"], *includes, str(probe),
                    manifest["lib"], "-lm", "-o", str(binary)], check=True)
    lines = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.splitlines()
    registered = {line.split()[1] for line in lines if line.startswith("op ")}
    expected = tflm_support.builtin_op_names(firmware["tflite"])
    assert registered == expected
    assert lines[0] == f"count {len(expected)}"


def test_a_missing_operator_gives_tflm_s_own_error(digits_firmware, tflm):
    micro = digits_firmware["work"] / "micro_missing_op"
    shutil.copytree(digits_firmware["micro"], micro)
    ops = (micro / "model_ops.h").read_text()
    without = re.sub(r"^.*AddFullyConnected.*\n", "", ops, flags=re.M)
    assert without != ops
    (micro / "model_ops.h").write_text(without)
    program = tflm_firmware.build(micro, digits_firmware["work"] / "build_missing_op", "host", "reference", tflm)
    with pytest.raises(tflm_firmware.FirmwareError) as error:
        tflm_firmware.run(program, "host")
    # TFLite Micro's op resolver (micro_op_resolver.cc) says this when the flatbuffer names an op it lacks.
    assert "Didn't find op for builtin opcode 'FULLY_CONNECTED'" in str(error.value)


def test_a_model_that_does_not_fit_the_part_is_one_clear_error_and_no_image(digits_firmware, tflm):
    sizes = tflm_firmware.section_sizes(digits_firmware["programs"]["cortex-m4"])
    # Room for everything the image places in RAM except the last KiB of the arena.
    ram_size = sum(sizes.get(name, 0) for name in (".data", ".bss", ".heap", ".stack")) - 1024
    build_dir = digits_firmware["work"] / "build_too_small"
    with pytest.raises(tflm_firmware.ModelDoesNotFit, match=r"region `RAM' overflowed by \d+ bytes.*RAM_SIZE="):
        tflm_firmware.build(digits_firmware["micro"], build_dir, "cortex-m4", "cmsis_nn", tflm, ram_size=ram_size)
    assert not (build_dir / "tfkd_tflm.elf").exists()


def test_an_arena_below_what_tflm_needs_fails_allocation_with_a_clear_error(digits_firmware, tflm):
    used = digits_firmware["runs"]["host"]["arena_used"]
    small = (used - 64) // 16 * 16
    program = tflm_firmware.build(digits_firmware["micro"], digits_firmware["work"] / "build_small_arena", "host", "reference",
                                  tflm, arena_size=small)
    with pytest.raises(tflm_firmware.FirmwareError, match=f"AllocateTensors failed with a {small}-byte arena"):
        tflm_firmware.run(program, "host")


def test_the_firmware_cost_is_reported_on_the_cortex_m4(firmware):
    run = firmware["runs"]["cortex-m4"]
    assert run["samples"] == tflm_support.SAMPLE_COUNT
    assert run["instructions_per_inference"] > 1000
    assert 0 < run["stack"] < 0x10000
