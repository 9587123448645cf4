#!/usr/bin/env python3
"""tfkd's code generator beside its peer, TFLite Micro, on an emulated Cortex-M4.

    TFLM_DIR=../shared/third_party/tflite-micro python tools/bench_tflm_peer.py --out bench_tflm

Runs the models of ``tools/tflm_models.py`` under three engines on QEMU ``mps2-an386``: TFLM with its
reference kernels, TFLM with CMSIS-NN kernels (both ``microcontroller/tflm``, ``-O2``, libraries
from ``tools/build_tflm.py``) and ``tfkd codegen`` (``tfkd.codegen``, ``-O2``). For each it measures,
the same way for all three:

- instructions per inference: ``qemu-system-arm -icount shift=0`` advances virtual time one step
  per executed instruction; SysTick, on the processor clock, is read just before and after each
  inference call (``Invoke()`` / ``<name>_invoke``) and converted with a loop of 2,000,000 known
  instructions run in the same image. Both harnesses use this code path; set-up
  (``AllocateTensors``) is outside the count. Resolution: one SysTick tick (40 instructions).
- flash: the linked image's bytes stored in flash (``arm-none-eabi-size -A``: .text with .rodata,
  .ARM.extab/.exidx, and the .data initial values), less the embedded test inputs, which are the
  harness's, not the engine's.
- RAM: static data (.data + .bss) + the stack the inference call used (found by painting the stack
  before each call). For TFLM the arena array counts with the bytes TFLM used of it
  (``arena_used_bytes()``), not the margin ``kTensorArenaSize`` adds.

Outputs of every engine are compared with the tflite-micro Python interpreter. Writes
``<out>/tflm_peer.json`` and ``<out>/tflm_peer.md`` (the table in BENCHMARKS.md).
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

from tfkd.model import TflmRunner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import build_tflm  # noqa: E402
import tflm_firmware  # noqa: E402
import tflm_models  # noqa: E402

ENGINES = ("tflm_reference", "tflm_cmsis_nn", "codegen")
ENGINE_TITLES = {"tflm_reference": "TFLM reference", "tflm_cmsis_nn": "TFLM + CMSIS-NN", "codegen": "tfkd codegen"}
FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".data")
STATIC_RAM_SECTIONS = (".data", ".bss")
DEFAULT_SAMPLES = 8


def _footprint(elf, samples_symbol):
    sections = tflm_firmware.section_sizes(elf)
    flash = sum(sections.get(name, 0) for name in FLASH_SECTIONS) - tflm_firmware.symbol_size(elf, samples_symbol)
    static_ram = sum(sections.get(name, 0) for name in STATIC_RAM_SECTIONS)
    return flash, static_ram


def run_tflm(tflite_bytes, samples, kernels, tflm_dir, work):
    from tfkd.export import write_c_arrays
    from tfkd.export.c_arrays import write_samples_header

    micro = os.path.join(work, "micro")
    if not os.path.isdir(micro):
        write_c_arrays(tflite_bytes, micro)
    samples_path = write_samples_header(samples, os.path.join(work, "samples.h"), tflite_bytes)
    elf = tflm_firmware.build(micro, os.path.join(work, f"build_{kernels}"), "cortex-m4", kernels, tflm_dir,
                              samples=samples_path)
    run = tflm_firmware.run(elf, "cortex-m4")
    flash, static_ram = _footprint(elf, "kSamples")
    arena_array = tflm_firmware.symbol_size(elf, "tensor_arena")
    return {
        "outputs": run["outputs"],
        "instructions_per_inference": run["instructions_per_inference"],
        "flash_bytes": flash,
        "ram_bytes": static_ram - arena_array + run["arena_used"] + run["stack"],
        "arena_bytes": run["arena_used"],
        "static_bytes": static_ram - arena_array,
        "stack_bytes": run["stack"],
        "arena_linked_bytes": arena_array,
    }


def run_codegen(tflite_bytes, samples, work):
    from tfkd import codegen
    from tfkd.codegen import cortex_m4

    source_dir = os.path.join(work, "codegen_src")
    try:
        summary = codegen.generate(tflite_bytes, source_dir, "model")
    except ValueError as e:  # an operator the code generator does not support (yet)
        return {"error": str(e).splitlines()[0]}
    elf, _ = cortex_m4.build_image(source_dir, samples, os.path.join(work, "codegen_build"), "model")
    run = cortex_m4.run_image(elf, summary["output_size"])
    flash, static_ram = _footprint(elf, "tfkd_samples")
    return {
        "outputs": run["outputs"],
        "instructions_per_inference": run["instructions_per_inference"],
        "flash_bytes": flash,
        "ram_bytes": static_ram + run["stack_bytes"],
        "arena_bytes": summary.get("arena_bytes"),
        "static_bytes": static_ram,
        "stack_bytes": run["stack_bytes"],
    }


def measure_model(name, tflm_dir, samples_count, work, engines=ENGINES):
    tflite_bytes, samples = tflm_models.int8_model(name, samples_count)
    expected = TflmRunner(tflite_bytes).run(samples)
    row = {"model": name, "tflite_bytes": len(tflite_bytes), "engines": {}}
    for engine in engines:
        if engine == "codegen":
            result = run_codegen(tflite_bytes, samples, work)
        else:
            result = run_tflm(tflite_bytes, samples, engine.split("_", 1)[1], tflm_dir, work)
        row["engines"][engine] = result
        if "error" in result:
            continue
        result["matches_tflm_python"] = bool(np.array_equal(result.pop("outputs"), expected))
    return row


def _ratio(row, key):
    codegen, peer = row["engines"].get("codegen", {}), row["engines"].get("tflm_cmsis_nn", {})
    if key not in codegen or key not in peer or not peer[key]:
        return "n/a"
    return f"{codegen[key] / peer[key]:.2f}"


def markdown(rows, command):
    lines = [
        "| model | engine | instructions / inference | flash bytes | RAM bytes (arena + static + stack) | "
        "bit-exact |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        for engine in ENGINES:
            if engine not in row["engines"]:
                continue
            result = row["engines"][engine]
            if "error" in result:
                lines.append(f"| {row['model']} | {ENGINE_TITLES[engine]} | unsupported: {result['error'][:80]} | | | |")
                continue
            ram = f"{result['ram_bytes']:,} ({result['arena_bytes'] or 0:,} + " \
                  f"{result['static_bytes'] - (result['arena_bytes'] or 0) if engine == 'codegen' else result['static_bytes']:,} + " \
                  f"{result['stack_bytes']:,})"
            lines.append(f"| {row['model']} | {ENGINE_TITLES[engine]} | {result['instructions_per_inference']:,} | "
                         f"{result['flash_bytes']:,} | {ram} | {'yes' if result['matches_tflm_python'] else 'NO'} |")
        lines.append(f"| {row['model']} | **codegen / (TFLM + CMSIS-NN)** | **{_ratio(row, 'instructions_per_inference')}** | "
                     f"**{_ratio(row, 'flash_bytes')}** | **{_ratio(row, 'ram_bytes')}** | |")
    return "\n".join(lines) + f"\n\nCommand: `{command}`\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflm_dir", default=os.environ.get("TFLM_DIR"), help="TFLite Micro tree (default: $TFLM_DIR)")
    parser.add_argument("--out", default="bench_tflm", help="folder for tflm_peer.json and tflm_peer.md")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="inputs per model (cost is averaged)")
    parser.add_argument("--models", default=",".join(tflm_models.MODELS), help="comma-separated subset")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ", ".join(ENGINES))
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    if not set(engines) <= set(ENGINES) or "codegen" not in engines:
        print(f"bench_tflm_peer: error: engines={args.engines!r}; expected codegen and some of {', '.join(ENGINES)}",
              file=sys.stderr)
        return 2
    try:
        tflm_dir = build_tflm.check_tflm_dir(args.tflm_dir)
        for engine in engines:
            if engine != "codegen":  # builds a missing library once (minutes)
                build_tflm.library(tflm_dir, "cortex-m4", engine.split("_", 1)[1])
    except build_tflm.BuildError as e:
        print(f"bench_tflm_peer: error: {e}", file=sys.stderr)
        return 2
    unknown = [m for m in args.models.split(",") if m not in tflm_models.MODELS]
    if unknown:
        print(f"bench_tflm_peer: error: models={unknown} unknown; expected some of {', '.join(tflm_models.MODELS)}",
              file=sys.stderr)
        return 2
    rows = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix=f"tfkd-peer-{name}-") as work:
            rows.append(measure_model(name, tflm_dir, args.samples, work, engines))
        print(json.dumps(rows[-1]), flush=True)
    command = "TFLM_DIR=../shared/third_party/tflite-micro python tools/bench_tflm_peer.py" + (
        f" --samples {args.samples}" if args.samples != DEFAULT_SAMPLES else "") + (
        f" --engines {args.engines}" if engines != list(ENGINES) else "")
    os.makedirs(args.out, exist_ok=True)
    from tfkd.files import atomic_write_text

    atomic_write_text(os.path.join(args.out, "tflm_peer.json"), json.dumps(rows, indent=1))
    atomic_write_text(os.path.join(args.out, "tflm_peer.md"), markdown(rows, command))
    print(markdown(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
