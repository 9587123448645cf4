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


class _ModelSources(Stage):
    """A stage that writes the int8 model's C sources (:mod:`tfkd.export.c_arrays`) with the data's
    labels and the arena that ``Verify`` measured; subclasses say where, in ``write``."""
    Result = Emitted

    def run(self, context):
        return Emitted(self.write(context, self.inputs["converted"].int8, labels=_labels(self),
                                  arena_bytes=self.inputs["verified"].arena_bytes))

    def write(self, context, int8, **sources):
        """Writes the sources of ``int8`` (``sources``: labels and arena) and returns paths relative to the folder."""
        raise NotImplementedError


class CArrays(_ModelSources):
    name = "micro"

    @dataclasses.dataclass(frozen=True)
    class Config:
        name: str = "g_model"  # the C++ name of the array; another name also prefixes the settings
        labels: tuple = None  # None: the data's class names

    def write(self, context, int8, **sources):
        written = export.write_c_arrays(int8, os.path.join(context.folder, "micro"), name=self.config.name, **sources)
        return sorted(os.path.relpath(p, context.folder) for p in written.values())

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
                f"{c['instructions_per_mac']} instructions/MAC, bit-exact with {c['reference']}: {c['matches_reference']}")

    def report(self, result):
        return result.details


class Arduino(_ModelSources):
    name = "arduino"

    @dataclasses.dataclass(frozen=True)
    class Config:
        library: str = "tfkd_model"
        model_name: str = "g_model"
        labels: tuple = None

    def write(self, context, int8, **sources):
        path = os.path.join(context.folder, f"{self.config.library}.zip")
        export.write_arduino_library(int8, path, name=self.config.library, model_name=self.config.model_name,
                                     **sources)
        return [os.path.basename(path)]

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
