"""The generated C behind :class:`tfkd.model.Runner`: on the host compiler, or on a Cortex-M4 in QEMU."""

import os
import tempfile

import numpy as np

from tfkd.codegen import cortex_m4, generator, host
from tfkd.model import Runner


class _GeneratedRunner(Runner):
    def __init__(self, tflite_bytes, name="model", weights="auto"):
        self._sources, self.summary = generator.compile_model(tflite_bytes, name, weights=weights)
        self._name = name
        self.input_shape = (1, self.summary["input_size"])

    def _write(self, directory):
        source_dir = os.path.join(directory, "src")
        os.makedirs(source_dir, exist_ok=True)
        for filename, text in self._sources.items():
            with open(os.path.join(source_dir, filename), "w", encoding="utf-8") as f:
                f.write(text)
        return source_dir


class HostRunner(_GeneratedRunner):
    """Compiles the generated C once with the host compiler (``$CC`` or gcc, strict C99 -Werror).

    For a float-I/O model it runs ``<name>_invoke_float``: float32 samples in, float32 outputs out.
    ``weights``: how filters are stored, as for :func:`tfkd.codegen.compile_model`."""

    def __init__(self, tflite_bytes, name="model", weights="auto"):
        super().__init__(tflite_bytes, name, weights)
        self._input_dtype = np.float32 if self.summary["float_input"] else np.int8
        self._output_dtype = np.float32 if self.summary["float_output"] else np.int8
        self._directory = tempfile.TemporaryDirectory(prefix="tfkd-host-")
        self._executable = host.compile_host(self._write(self._directory.name), name=name,
                                             float_input=self.summary["float_input"],
                                             float_output=self.summary["float_output"])

    def run(self, samples):
        rows = np.asarray(samples, dtype=self._input_dtype).reshape(len(samples), -1)
        return host.run_host(self._executable, rows, self.summary["output_size"], self._output_dtype)


class QemuRunner(_GeneratedRunner):
    """Builds the generated C with the samples into a Cortex-M4 image and runs it in QEMU (one image per call).

    ``weights``: how filters are stored, as for :func:`tfkd.codegen.compile_model`."""

    def run(self, samples):
        rows = np.asarray(samples, dtype=np.int8).reshape(len(samples), -1)
        with tempfile.TemporaryDirectory(prefix="tfkd-qemu-") as directory:
            elf, _ = cortex_m4.build_image(self._write(directory), rows, os.path.join(directory, "build"), self._name)
            self.last_run = cortex_m4.run_image(elf, self.summary["output_size"])
        return self.last_run["outputs"]
