"""``measure``: flash, RAM and instructions of the generated C on a Cortex-M4, next to TFLite Micro.

Method, so that the figures can be quoted:

- flash: ``arm-none-eabi-size`` text + data of the model's own objects (``<name>.c`` and the kernels
  it uses, ``-mcpu=cortex-m4 -mthumb -O2``); text includes the weights (rodata). The harness,
  start-up code and C library are left out, as they are not the model's.
- RAM: the static activation arena (bss of the model objects) plus data plus the stack high-water
  mark of ``<name>_invoke``, measured in QEMU by painting the free stack before each call.
- instructions: QEMU ``-icount shift=0`` advances virtual time by one step per executed
  instruction; SysTick, clocked from it, is read around each call and converted with a timed loop
  of known length (resolution: one SysTick tick, 40 instructions on QEMU 7.2, per call).
- TFLite Micro arena: :func:`tfkd.export.measure_arena`, the smallest ``arena_size`` (to 16 bytes)
  with which its interpreter allocates and runs the model.
"""

import os
import tempfile

import numpy as np

from tfkd.codegen import cortex_m4, generator
from tfkd.model import TflmRunner, dequantize, dilation, quantize, read_model

DEFAULT_SAMPLES = 8
SAMPLE_SEED = 0
METHOD = ("flash: arm-none-eabi-size text+data of the model objects (-mcpu=cortex-m4 -mthumb -O2); "
          "RAM: arena + data + painted-stack high-water mark of model_invoke in QEMU mps2-an386; "
          "instructions: QEMU -icount shift=0, SysTick read around each call, calibrated by a loop of "
          "known length; TFLM arena: smallest arena_size the tflite_micro interpreter runs with")


def _samples(samples, input_size):
    if samples is None:
        # Cost does not depend on the values (no data-dependent branches besides clamps), so
        # seeded random inputs are as good as real ones here.
        rng = np.random.default_rng(SAMPLE_SEED)
        return rng.integers(-128, 128, size=(DEFAULT_SAMPLES, input_size), dtype=np.int64).astype(np.int8)
    samples = np.asarray(samples)
    if samples.dtype != np.int8:
        raise TypeError(f"samples must be int8 (quantised model inputs), got {samples.dtype}")
    samples = samples.reshape(len(samples), -1)
    if samples.shape[1] != input_size:
        raise ValueError(f"samples have {samples.shape[1]} values each; the model takes {input_size}")
    return samples


def reference_model(tflite_bytes):
    """``(name, tflite bytes)``: the model TFLite Micro runs to check the generated C. A model TFLite Micro
    computes wrongly (Keras' dilated convolutions, :func:`tfkd.model.dilation.tflite_micro_misreads`) runs
    with its dilated convolutions folded into single operators."""
    if dilation.tflite_micro_misreads(read_model(tflite_bytes)):
        return "TFLite Micro (dilated convolutions folded)", dilation.fold_dilated_convolutions(tflite_bytes)
    return "TFLite Micro", tflite_bytes


def _int8_outputs(tflite_bytes, samples):
    """TFLite Micro's outputs for int8 ``samples``, as int8. A float-I/O model's ends are crossed exactly: the
    dequantised samples quantise back to themselves in its QUANTIZE, and its dequantised outputs back to int8."""
    model = read_model(tflite_bytes)
    inp, out = model.inputs[0], model.outputs[0]
    if inp.dtype == "float32":
        samples = dequantize(samples, *model.int8_quantization(inp)).astype(np.float32)
    outputs = TflmRunner(tflite_bytes).run(samples)
    if out.dtype == "float32":
        outputs = quantize(outputs, *model.int8_quantization(out))
    return outputs


def measure(tflite_bytes, samples=None, name="model", build_dir=None, compare_tflm=True, weights="auto", stream="auto"):
    """Builds the generated C for the Cortex-M4, runs it in QEMU on ``samples`` and returns a dict.

    ``samples``: int8 model inputs (default: 8 seeded random ones). The result holds flash_bytes,
    ram_bytes (arena_bytes + data_bytes + stack_bytes), instructions_per_inference,
    instructions_per_mac, macs, outputs (int8 rows), and, with ``compare_tflm``, tflm_arena_bytes,
    tflite_bytes, matches_tflm (bit-exact outputs), reference and matches_reference (the outputs of
    :func:`reference_model`, which differs from the model where TFLite Micro miscomputes it) and the
    ratios against them. Raises OSError when
    the Arm toolchain or QEMU is missing (see :func:`tfkd.codegen.cortex_m4.missing_tools`). ``weights`` and
    ``stream``: as for :func:`tfkd.codegen.compile_model`; the result's ``weights`` is the summary's weight
    storage section.
    """
    sources, summary = generator.compile_model(tflite_bytes, name, weights, stream)
    samples = _samples(samples, summary["input_size"])
    with tempfile.TemporaryDirectory(prefix="tfkd-codegen-", dir=build_dir) as tmp:
        source_dir = os.path.join(tmp, "src")
        os.makedirs(source_dir)
        for filename, text in sources.items():
            with open(os.path.join(source_dir, filename), "w", encoding="utf-8") as f:
                f.write(text)
        elf, objects = cortex_m4.build_image(source_dir, samples, os.path.join(tmp, "build"), name)
        sizes = cortex_m4.section_sizes(objects)
        image = cortex_m4.section_sizes([elf])
        run = cortex_m4.run_image(elf, summary["output_size"])
    ram = sizes["bss"] + sizes["data"] + run["stack_bytes"]
    result = {
        "ops": summary["ops"],
        "macs": summary["macs"],
        "flash_bytes": sizes["text"] + sizes["data"],
        "arena_bytes": sizes["bss"],
        "data_bytes": sizes["data"],
        "stack_bytes": run["stack_bytes"],
        "ram_bytes": ram,
        "image_flash_bytes": image["text"] + image["data"],
        "instructions_per_inference": run["instructions_per_inference"],
        "instructions_per_mac": round(run["instructions_per_inference"] / summary["macs"], 2) if summary["macs"] else None,
        "samples": len(samples),
        "weights": summary["weights"],
        "outputs": run["outputs"],
        "target": f"Cortex-M4 ({cortex_m4.MACHINE} in QEMU)",
        "method": METHOD,
    }
    if compare_tflm:
        from tfkd.export.arena import measure_arena

        tflm_arena = measure_arena(tflite_bytes)
        reference, reference_bytes = reference_model(tflite_bytes)
        matches_tflm = bool(np.array_equal(run["outputs"], _int8_outputs(tflite_bytes, samples)))
        result.update(
            tflite_bytes=len(tflite_bytes),
            tflm_arena_bytes=tflm_arena,
            matches_tflm=matches_tflm,
            reference=reference,
            matches_reference=matches_tflm if reference_bytes is tflite_bytes else bool(
                np.array_equal(run["outputs"], _int8_outputs(reference_bytes, samples))),
            ram_vs_tflm_arena=round(ram / tflm_arena, 3),
            flash_vs_tflite_bytes=round(result["flash_bytes"] / len(tflite_bytes), 3),
        )
    return result
