#!/usr/bin/env python3
"""tfkd's code generator beside its peer, TFLite Micro, on an emulated Cortex-M4.

    TFLM_DIR=../shared/third_party/tflite-micro python tools/bench_tflm_peer.py --out bench_tflm
    ... --models ds_cnn_kws,resnet8                  # a subset

Runs the eight models of ``tools/tflm_models.py`` (the four small digits models of ``MODELS``, 8 inputs
each, and the four deployed-shaped models of ``DEPLOYED_MODELS``, 2 random inputs each) under three engines on QEMU ``mps2-an386``: TFLM with its
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
  (``arena_used_bytes()``), not the margin ``kTensorArenaSize`` adds; that arena holds the input and
  output tensors. The generated C reads its input from, and writes its output to, the caller's
  buffers: they count as RAM too (the application holds its input in RAM), beside the activation
  arena, so that both engines count the same tensors. The harnesses' own print buffers do not count.
- MACs: ``tfkd.model.read_model(...).macs`` (what ``tfkd inspect`` reports), for instructions per MAC.

Also recorded per model (``tensors`` in the JSON): the bytes of the int8 activation tensors alive at
the busiest operator when each tensor lives from the operator that writes it to the last one that
reads it (input and output included). No planner that keeps an operator's inputs and output apart
can use less.

Outputs of every engine are compared with the tflite-micro Python interpreter. Writes
``<out>/tflm_peer.json`` and ``<out>/tflm_peer.md`` (the table in BENCHMARKS.md).
"""

import argparse
import json
import os
import re
import subprocess
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
DEFAULT_SAMPLES = 8  # the small digits models
DEPLOYED_SAMPLES = 2  # the deployed-shaped models: millions of instructions each, in QEMU
PEER_MODELS = {**tflm_models.MODELS, **tflm_models.DEPLOYED_MODELS}


def default_samples(name):
    return DEPLOYED_SAMPLES if name in tflm_models.DEPLOYED_MODELS else DEFAULT_SAMPLES


def _footprint(elf, samples_symbol):
    sections = tflm_firmware.section_sizes(elf)
    flash = sum(sections.get(name, 0) for name in FLASH_SECTIONS) - tflm_firmware.symbol_size(elf, samples_symbol)
    static_ram = sum(sections.get(name, 0) for name in STATIC_RAM_SECTIONS)
    return flash, static_ram


def _static_symbol_size(elf, name):
    """Size of a C static (``name``, or a function-local ``name.<n>``) in ``elf``; 0 when absent."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and re.fullmatch(re.escape(name) + r"(\.\d+)?", fields[3]):
            return int(fields[1], 16)
    return 0


def activation_peak(tflite_bytes):
    """The busiest operator when every activation tensor lives from its writer to its last reader.

    Returns ``{"peak_bytes", "operator", "live": [(name, shape, bytes), ...]}``; the graph input lives
    from the start, the output to the end. RESHAPE outputs alias their input (as in both engines)."""
    from tfkd.model import read_model

    model = read_model(tflite_bytes)
    alias = {}
    root = lambda t: root(alias[t]) if t in alias else t  # noqa: E731
    first, last = {}, {}
    for t in model.input_indices:
        first[t] = last[t] = 0
    for i, op in enumerate(model.operators):
        for t in op.inputs:
            if t >= 0 and not model.tensors[t].constant:
                last[root(t)] = i
        for t in op.outputs:
            if op.name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
                alias[t] = op.inputs[0]
                last[root(t)] = i
            else:
                first.setdefault(t, i)
                last[t] = i
    for t in model.output_indices:
        last[root(t)] = len(model.operators) - 1
    best = (-1, 0, [])
    for i, op in enumerate(model.operators):
        live = [t for t in first if first[t] <= i <= last[t]]
        total = sum(model.tensors[t].bytes for t in live)
        if total > best[0]:
            best = (total, i, live)
    total, i, live = best
    return {"peak_bytes": total, "operator": f"#{i} {model.operators[i].name}",
            "live": [(model.tensors[t].name, list(model.tensors[t].shape), model.tensors[t].bytes) for t in live]}


ARENA_KEYS = ("arena_used", "arena_head", "arena_tail", "arena_eval_tensors", "arena_persistent_tensors",
              "arena_quantization", "arena_persistent_buffers", "arena_node_registrations", "arena_op_data")


def tflm_arena_breakdown(micro, samples_path, kernels, tflm_dir, work):
    """Where TFLM's arena goes: the firmware rebuilt with ``-DTFKD_RECORD_ARENA`` (TFLM's
    RecordingMicroInterpreter, whose own records add a little to the tail), run once more."""
    elf = tflm_firmware.build(micro, os.path.join(work, f"build_{kernels}_recording"), "cortex-m4", kernels,
                              tflm_dir, samples=samples_path, extra_flags="-DTFKD_RECORD_ARENA")
    run = tflm_firmware.run(elf, "cortex-m4")
    return {key: run[key] for key in ARENA_KEYS if key in run}


def run_tflm(tflite_bytes, samples, kernels, tflm_dir, work, arena_breakdown=False):
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
    breakdown = tflm_arena_breakdown(micro, samples_path, kernels, tflm_dir, work) if arena_breakdown else None
    return {
        **({"arena_breakdown": breakdown} if breakdown else {}),
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
    # The harness's print buffer is not the engine's; its output buffer is the caller's, counted below
    # with the input buffer the caller also needs (the harness reads the inputs from flash).
    static_ram -= _static_symbol_size(elf, "line") + _static_symbol_size(elf, "output")
    arena = summary["arena_bytes"]
    # The caller's buffers: the output, and the input unless it has its place in the arena (<name>_input()).
    io_bytes = summary["output_size"] + (0 if summary["input_in_arena"] else summary["input_size"])
    buffers = arena + io_bytes
    return {
        "outputs": run["outputs"],
        "instructions_per_inference": run["instructions_per_inference"],
        "flash_bytes": flash,
        "ram_bytes": buffers + static_ram - arena + run["stack_bytes"],
        "arena_bytes": buffers,
        "activation_arena_bytes": arena,
        "io_buffer_bytes": io_bytes,
        "static_bytes": static_ram - arena,
        "stack_bytes": run["stack_bytes"],
    }


def measure_model(name, tflm_dir, samples_count, work, engines=ENGINES, arena_breakdown=False):
    from tfkd.model import read_model

    tflite_bytes, samples = tflm_models.int8_model(name, samples_count)
    expected = TflmRunner(tflite_bytes).run(samples)
    row = {"model": name, "tflite_bytes": len(tflite_bytes), "samples": len(samples),
           "macs": int(read_model(tflite_bytes).macs), "tensors": activation_peak(tflite_bytes), "engines": {}}
    for engine in engines:
        if engine == "codegen":
            result = run_codegen(tflite_bytes, samples, work)
        else:
            result = run_tflm(tflite_bytes, samples, engine.split("_", 1)[1], tflm_dir, work,
                              arena_breakdown=arena_breakdown and engine == "tflm_cmsis_nn")
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


def _per_mac(row, result):
    return f"{result['instructions_per_inference'] / row['macs']:.2f}" if row.get("macs") else "n/a"


def _head_tail(peer):
    breakdown = peer.get("arena_breakdown")
    # The head does not depend on the recording; the tail is what remains of the arena TFLM used without it.
    return f" ({breakdown['arena_head']:,} + {peer['arena_bytes'] - breakdown['arena_head']:,})" if breakdown else ""


def markdown(rows, command):
    lines = [
        "| model | engine | instructions / inference | instructions / MAC | flash bytes | "
        "RAM bytes (arena + static + stack) | bit-exact |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        for engine in ENGINES:
            if engine not in row["engines"]:
                continue
            result = row["engines"][engine]
            if "error" in result:
                lines.append(f"| {row['model']} | {ENGINE_TITLES[engine]} | unsupported: {result['error'][:80]} "
                             "| | | | |")
                continue
            ram = f"{result['ram_bytes']:,} ({result['arena_bytes']:,} + {result['static_bytes']:,} + " \
                  f"{result['stack_bytes']:,})"
            lines.append(f"| {row['model']} | {ENGINE_TITLES[engine]} | {result['instructions_per_inference']:,} | "
                         f"{_per_mac(row, result)} | {result['flash_bytes']:,} | {ram} | "
                         f"{'yes' if result['matches_tflm_python'] else 'NO'} |")
        lines.append(f"| {row['model']} | **codegen / (TFLM + CMSIS-NN)** | **{_ratio(row, 'instructions_per_inference')}** | "
                     f"| **{_ratio(row, 'flash_bytes')}** | **{_ratio(row, 'ram_bytes')}** | |")
    lines.append("")
    lines.append("| model | MACs | inputs | activation tensors alive at the busiest operator | TFLM + CMSIS-NN arena "
                 "(head + tail) | codegen activation arena + input + output |")
    lines.append("| --- | ---: | ---: | --- | ---: | ---: |")
    for row in rows:
        tensors, peer, codegen = row["tensors"], row["engines"].get("tflm_cmsis_nn", {}), row["engines"]["codegen"]
        live = " + ".join(f"{'x'.join(map(str, shape))}" for _, shape, _ in tensors["live"])
        lines.append(f"| {row['model']} | {row['macs']:,} | {row['samples']} | {tensors['peak_bytes']:,} at "
                     f"{tensors['operator']} ({live}) | {peer.get('arena_bytes', 0):,}{_head_tail(peer)} | "
                     f"{codegen.get('activation_arena_bytes', 0):,} + {codegen.get('io_buffer_bytes', 0):,} |")
    return "\n".join(lines) + f"\n\nCommand: `{command}`\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tflm_dir", default=os.environ.get("TFLM_DIR"), help="TFLite Micro tree (default: $TFLM_DIR)")
    parser.add_argument("--out", default="bench_tflm", help="folder for tflm_peer.json and tflm_peer.md")
    parser.add_argument("--samples", type=int, default=None,
                        help=f"inputs per model, cost averaged (default: {DEFAULT_SAMPLES} for the digits models, "
                             f"{DEPLOYED_SAMPLES} for the deployed-shaped ones)")
    parser.add_argument("--models", default=",".join(PEER_MODELS),
                        help="comma-separated subset of " + ", ".join(PEER_MODELS))
    parser.add_argument("--arena_breakdown", action="store_true",
                        help="also build TFLM + CMSIS-NN with its RecordingMicroInterpreter and record where its "
                             "arena goes (head: planned tensors and scratch; tail: persistent structures)")
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
    unknown = [m for m in args.models.split(",") if m not in PEER_MODELS]
    if unknown:
        print(f"bench_tflm_peer: error: models={unknown} unknown; expected some of {', '.join(PEER_MODELS)}",
              file=sys.stderr)
        return 2
    rows = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix=f"tfkd-peer-{name}-") as work:
            rows.append(measure_model(name, tflm_dir, args.samples or default_samples(name), work, engines,
                                      args.arena_breakdown))
        print(json.dumps(rows[-1]), flush=True)
    command = "TFLM_DIR=../shared/third_party/tflite-micro python tools/bench_tflm_peer.py" + (
        f" --samples {args.samples}" if args.samples else "") + (
        f" --models {args.models}" if args.models.split(",") != list(PEER_MODELS) else "") + (
        f" --engines {args.engines}" if engines != list(ENGINES) else "") + (
        " --arena_breakdown" if args.arena_breakdown else "")
    os.makedirs(args.out, exist_ok=True)
    from tfkd.files import atomic_write_text

    atomic_write_text(os.path.join(args.out, "tflm_peer.json"), json.dumps(rows, indent=1))
    atomic_write_text(os.path.join(args.out, "tflm_peer.md"), markdown(rows, command))
    print(markdown(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
