"""The emit stages: what firmware and apps consume, written into the stage's folder.

- ``CArrays``: ``micro/`` (model data, settings with the measured arena, op resolver).
- ``Codegen``: the dependency-free C measured on an emulated Cortex-M4, when the Arm
  toolchain and QEMU exist (else a ``skipped`` note).
- ``Arduino``: an Arduino library zip holding the int8 model.
- ``Android``: the float-I/O model and ``labels.txt``.

Inputs: ``converted`` (a ``Convert`` result), ``verified`` (a ``Verify`` result, for the
measured arena), ``data`` (labels and, for ``Codegen``, sample inputs). ``Result.files``
lists the written paths relative to the stage's folder; ``Pipeline.publish`` copies them.
"""

import dataclasses
import os

from tfkd import export, files
from tfkd.pipeline.stage import Stage


@dataclasses.dataclass
class Emitted:
    files: list  # paths relative to the stage's folder
    details: dict = None


def _labels(stage):
    labels = stage.config.labels
    return list(labels) if labels is not None else list(stage.inputs["data"].class_names)


class CArrays(Stage):
    name = "micro"
    Result = Emitted

    @dataclasses.dataclass(frozen=True)
    class Config:
        name: str = "g_model"
        labels: tuple = None  # None: the data's class names

    def run(self, context):
        written = export.write_c_arrays(self.inputs["converted"].int8, os.path.join(context.folder, "micro"),
                                        name=self.config.name, labels=_labels(self),
                                        arena_bytes=self.inputs["verified"].arena_bytes)
        return Emitted(sorted(os.path.relpath(p, context.folder) for p in written.values()))

    def note(self, result):
        return "C arrays written"


class Codegen(Stage):
    name = "codegen"
    Result = Emitted

    @dataclasses.dataclass(frozen=True)
    class Config:
        samples: int = 16  # test inputs run on the emulated Cortex-M4

    def run(self, context):
        from tfkd.codegen import cortex_m4, footprint
        from tfkd.model import quantize, read_model

        missing = cortex_m4.missing_tools()
        if missing:
            return Emitted([], {"skipped": f"missing tools: {', '.join(missing)}"})
        int8 = self.inputs["converted"].int8
        scale, zero_point = read_model(int8).inputs[0].quantization
        samples = quantize(self.inputs["data"].x_test[:self.config.samples], scale, zero_point)
        measured = footprint.measure(int8, samples=samples)
        measured.pop("outputs", None)
        return Emitted([], measured)

    def note(self, result):
        c = result.details
        if "flash_bytes" not in c:
            return c.get("skipped", "")
        return (f"generated C on Cortex-M4: {c['flash_bytes']} B flash, {c['ram_bytes']} B RAM, "
                f"{c['instructions_per_mac']} instructions/MAC, bit-exact: {c['matches_tflm']}")

    def report(self, result):
        return result.details


class Arduino(Stage):
    name = "arduino"
    Result = Emitted

    @dataclasses.dataclass(frozen=True)
    class Config:
        library: str = "tfkd_model"
        model_name: str = "g_model"
        labels: tuple = None

    def run(self, context):
        path = os.path.join(context.folder, f"{self.config.library}.zip")
        export.write_arduino_library(self.inputs["converted"].int8, path, name=self.config.library,
                                     labels=_labels(self), model_name=self.config.model_name,
                                     arena_bytes=self.inputs["verified"].arena_bytes)
        return Emitted([os.path.basename(path)])

    def note(self, result):
        return f"{result.files[0]} written"


class Android(Stage):
    name = "android"
    Result = Emitted

    @dataclasses.dataclass(frozen=True)
    class Config:
        labels: tuple = None

    def run(self, context):
        files.atomic_write_bytes(os.path.join(context.folder, "model_float_io.tflite"),
                                 self.inputs["converted"].float_io)
        files.atomic_write_text(os.path.join(context.folder, "labels.txt"),
                                "".join(f"{label}\n" for label in _labels(self)))
        return Emitted(["labels.txt", "model_float_io.tflite"])

    def note(self, result):
        return "float-I/O model and labels written"
