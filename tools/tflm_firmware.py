"""Builds the TFLite Micro firmware of ``microcontroller/tflm`` for a model and runs it.

The tests and ``tools/bench_tflm_peer.py`` use this; by hand it is ``make -C microcontroller/tflm``
(see its Makefile). Running parses what ``main.cc`` prints into numbers.
"""

import os
import re
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE_DIR = os.path.join(ROOT, "microcontroller", "tflm")
QEMU = ("qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
        "-icount", "shift=0", "-semihosting-config", "enable=on,target=native", "-kernel")
# Instructions of the calibration loop in cortex_m4/platform.cc (1,000,000 iterations of 2).
CALIBRATION_INSTRUCTIONS = 2_000_000
RUN_TIMEOUT_S = 300
_VALUES = ("arena_used", "arena_size", "arena_estimate", "model_align", "arena_align", "stack", "calibration",
           # with -DTFKD_RECORD_ARENA (see main.cc)
           "arena_head", "arena_tail", "arena_eval_tensors", "arena_persistent_tensors", "arena_quantization",
           "arena_persistent_buffers", "arena_node_registrations", "arena_op_data")


class FirmwareError(Exception):
    """The firmware did not build or did not run; the message carries its own error line."""


class ModelDoesNotFit(FirmwareError):
    """The model's flash or RAM exceeds the part the firmware was linked for."""


def make_command(micro_dir, build_dir, target, kernels, tflm_dir, samples=None, arena_size=None, flash_size=None,
                 ram_size=None, cache=None, jobs=None, extra_flags=None):
    # make -C changes directory: relative paths would point elsewhere.
    absolute = lambda path: path and os.path.abspath(os.fspath(path))  # noqa: E731
    variables = {"TFLM_DIR": absolute(tflm_dir), "MODEL_DIR": absolute(micro_dir), "BUILD_DIR": absolute(build_dir),
                 "TARGET": target, "KERNELS": kernels, "SAMPLES": absolute(samples),
                 "ARENA_SIZE": arena_size, "FLASH_SIZE": flash_size, "RAM_SIZE": ram_size, "TFLM_CACHE": cache,
                 "JOBS": jobs, "EXTRA_FLAGS": extra_flags}
    return ["make", "--no-print-directory", "-C", FIRMWARE_DIR] + [
        f"{key}={value}" for key, value in variables.items() if value is not None
    ]


def build(micro_dir, build_dir, target="host", kernels="reference", tflm_dir=None, **options):
    """Builds the firmware with the Makefile and returns the program's path."""
    tflm_dir = tflm_dir if tflm_dir is not None else os.environ.get("TFLM_DIR", "")
    result = subprocess.run(make_command(micro_dir, build_dir, target, kernels, tflm_dir, **options),
                            capture_output=True, text=True)
    if result.returncode:
        text = result.stderr + result.stdout
        error = re.search(r"^error: the model does not fit.*$", text, re.M)
        if error:
            raise ModelDoesNotFit(error.group(0)[len("error: "):])
        raise FirmwareError(f"building the {target}/{kernels} firmware failed:\n{text.strip()[-3000:]}")
    name = "tfkd_tflm.elf" if target == "cortex-m4" else "tfkd_tflm"
    return os.path.join(build_dir, name)


def run(program, target="host", timeout=RUN_TIMEOUT_S):
    """Runs the firmware (the host program, or the image in QEMU) and returns what it printed, parsed.

    Keys: ``outputs`` (int8, one row per input), the arena, alignment and stack figures, ``ticks``,
    ``samples``, ``calibration``, and on the Cortex-M4 ``instructions_per_inference``.
    """
    command = [*QEMU, program] if target == "cortex-m4" else [program]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise FirmwareError(f"{os.path.basename(program)} did not finish within {timeout} s") from e
    text = result.stdout + result.stderr  # QEMU writes semihosting text to stderr
    if result.returncode:
        raise FirmwareError(f"{os.path.basename(program)} exited with {result.returncode}: {text.strip()[-2000:]}")
    parsed, outputs = {"text": text}, {}
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["out"] and len(fields) == 3:
            outputs[int(fields[1])] = np.frombuffer(bytes.fromhex(fields[2]), dtype=np.int8)
        elif fields[:1] == ["ticks"] and len(fields) == 4:
            parsed["ticks"], parsed["samples"] = int(fields[1]), int(fields[3])
        elif len(fields) == 2 and fields[0] in _VALUES:
            parsed[fields[0]] = int(fields[1])
    if "samples" not in parsed or sorted(outputs) != list(range(parsed["samples"])):
        raise FirmwareError(f"{os.path.basename(program)} did not report every output: {text.strip()[-2000:]}")
    parsed["outputs"] = np.stack([outputs[i] for i in range(parsed["samples"])])
    if parsed.get("calibration"):
        per_tick = CALIBRATION_INSTRUCTIONS / parsed["calibration"]
        parsed["instructions_per_inference"] = int(round(parsed["ticks"] * per_tick / parsed["samples"]))
    return parsed


def section_sizes(elf):
    """``arm-none-eabi-size -A``: bytes of each allocated section of an image (``.text``, ``.bss``, ...)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", elf], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes


def symbol_size(elf, name):
    """Size of the symbol whose (demangled, unqualified) name is ``name``, from nm."""
    out = subprocess.run(["arm-none-eabi-nm", "-C", "-S", elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split(maxsplit=3)
        if len(fields) == 4 and fields[3].split("::")[-1] == name:
            return int(fields[1], 16)
    raise FirmwareError(f"{name} not found in {elf}")


def symbol_address(elf, symbol, nm="arm-none-eabi-nm"):
    """Address of ``symbol`` in ``elf`` (C++ names demangled), from nm."""
    out = subprocess.run([nm, "-C", elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split(maxsplit=2)
        if len(fields) == 3 and fields[2] == symbol:
            return int(fields[0], 16)
    raise FirmwareError(f"{symbol} not found in {elf}")
