"""The deployment stages: Convert (full-int8 TFLite) and Verify (LiteRT and TFLite Micro)."""

import dataclasses
import gzip

import numpy as np

from tfkd import export
from tfkd.pipeline.stage import Stage


@dataclasses.dataclass
class Converted:
    int8: bytes  # int8 in, int8 out: for microcontrollers
    float_io: bytes  # float in, float out, int8 inside: for Android


class Convert(Stage):
    """Full-int8 TFLite of ``model``, calibrated on ``data``'s training inputs. Inputs: ``data``, ``model``."""

    name = "int8"
    Result = Converted

    @dataclasses.dataclass(frozen=True)
    class Config:
        num_samples: int = export.tflite.DEFAULT_REPRESENTATIVE_SAMPLES

    def run(self, context):
        model, x = self.inputs["model"].model, self.inputs["data"].x
        return Converted(export.to_tflite(model, x, io="int8", num_samples=self.config.num_samples),
                         export.to_tflite(model, x, io="float", num_samples=self.config.num_samples))

    def note(self, result):
        return f"{len(result.int8)} bytes int8, {len(result.float_io)} bytes float I/O"


@dataclasses.dataclass
class Verified:
    int8: dict  # tfkd.export.verify of the int8 model, with its arena, ops, params and MACs
    float_io: dict  # tfkd.export.verify of the float-I/O model
    arena_bytes: int  # measured TFLite Micro arena
    arena_bytes_with_margin: int  # what the firmware gets: kTensorArenaSize
    tflm_predictions: np.ndarray  # top-1 class of every test sample on TFLite Micro


class Verify(Stage):
    """Both models on LiteRT and TFLite Micro over the test split. Inputs: ``data``, ``converted``, ``model``.

    ``model`` is the Keras model they were converted from (for the float agreement).
    """

    name = "verify"
    section = "int8"
    Result = Verified

    @dataclasses.dataclass(frozen=True)
    class Config:
        pass

    def run(self, context):
        data, converted = self.inputs["data"], self.inputs["converted"]
        reference = self.inputs["model"].model
        measured = export.measure_arena(converted.int8)
        arena = export.arena_with_margin(measured)
        checks = export.verify(converted.int8, data.x_test, data.y_test, reference=reference, arena_size=arena)
        android = export.verify(converted.float_io, data.x_test, data.y_test, reference=reference)
        info = export.describe(converted.int8, measure_arena=False)
        checks.update({"tflite_bytes": len(converted.int8), "gzip_bytes": len(gzip.compress(converted.int8, 9)),
                       "ops": info.op_names, "params": info.parameter_count, "int8_weight_bytes": info.weight_bytes,
                       "macs": info.macs})
        android["tflite_bytes"] = len(converted.float_io)
        return Verified(checks, android, measured, arena, _tflm_predictions(converted.int8, data.x_test, arena))

    def note(self, result):
        checks = result.int8
        return (f"TFLite Micro accuracy {checks['tflm_accuracy']:.4f}, max {checks['litert_tflm_max_lsb']} "
                f"LSB from LiteRT, top-1 agreement {checks['litert_tflm_top1_agreement']:.4f}")

    def report(self, result):
        checks = result.int8
        keys = ("tflite_bytes", "gzip_bytes", "litert_accuracy", "litert_default_accuracy", "tflm_accuracy",
                "litert_tflm_max_lsb", "litert_tflm_top1_agreement", "float_agreement")
        return {**{key: checks[key] for key in keys}, "arena_bytes": result.arena_bytes,
                "arena_bytes_with_margin": result.arena_bytes_with_margin, "ops": checks["ops"],
                "params": checks["params"], "int8_weight_bytes": checks["int8_weight_bytes"], "macs": checks["macs"]}


def _tflm_predictions(int8_bytes, x_test, arena_size):
    """Top-1 class of every test sample on TFLite Micro (for the confusion matrix)."""
    from tfkd.model import TflmRunner, quantize, read_model

    scale, zero_point = read_model(int8_bytes).inputs[0].quantization
    outputs = TflmRunner(int8_bytes, arena_size).run(quantize(x_test, scale, zero_point))
    return np.argmax(outputs, axis=-1)
