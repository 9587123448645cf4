"""One interface for every runtime a model meets: ``runner.run(samples)`` -> one output row per sample.

``samples`` holds model inputs, one per row, in the model's input type (int8 for an int8 model,
float32 for a float-I/O one), either flat or in the input's shape without the batch axis. The
result is an array of shape ``(samples, output elements)`` in the output's type. Runners here:
LiteRT (reference kernels or default settings) and TFLite Micro's Python interpreter; the
generated C on the host and on an emulated Cortex-M4 are in :mod:`tfkd.codegen.runners`.
"""

import numpy as np

from tfkd.model.errors import ModelError
from tfkd.model.reader import check_flatbuffer

# TFLite Micro places its own allocator in the arena; its Python wrapper crashes (segmentation
# fault) instead of failing when the arena cannot hold it (below about 460 bytes on a 64-bit
# host), so interpreters built in this process get at least this.
TFLM_ARENA_FLOOR = 768
# A generous arena for reference runs; the measured minimum is tfkd.export.measure_arena's job.
TFLM_REFERENCE_ARENA = 1 << 20


class Runner:
    """Runs one model; subclasses implement ``_run_one(sample)`` or override :meth:`run`."""

    input_shape = None

    def run(self, samples):
        samples = np.asarray(samples)
        size = int(np.prod(self.input_shape[1:]))
        rows = samples.reshape(len(samples), -1)
        if rows.shape[1] != size:
            raise ValueError(f"samples have {rows.shape[1]} values each; the model takes {size}")
        return np.stack([np.asarray(self._run_one(row.reshape(self.input_shape))).reshape(-1) for row in rows])

    def _run_one(self, sample):
        raise NotImplementedError


class LiteRTRunner(Runner):
    """LiteRT in this process: ``reference_kernels`` (BUILTIN_REF, what TFLite Micro also follows) or its defaults."""

    def __init__(self, tflite_bytes, reference_kernels=True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        data = check_flatbuffer(tflite_bytes)
        resolver = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
        try:
            self._interpreter = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"LiteRT cannot load the model: {str(e).strip().splitlines()[0]}") from e
        inp = self._interpreter.get_input_details()[0]
        self.input_shape = tuple(inp["shape"])
        self._input = inp["index"]
        self._dtype = inp["dtype"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def _run_one(self, sample):
        self._interpreter.set_tensor(self._input, sample.astype(self._dtype))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


class TflmRunner(Runner):
    """TFLite Micro's Python interpreter (the ``tflite-micro`` package, reference kernels) with ``arena_size`` bytes."""

    def __init__(self, tflite_bytes, arena_size=TFLM_REFERENCE_ARENA):
        from tflite_micro.python.tflite_micro import runtime

        data = check_flatbuffer(tflite_bytes)
        if int(arena_size) < TFLM_ARENA_FLOOR:
            raise ValueError(f"arena_size={arena_size} is too small; expected at least {TFLM_ARENA_FLOOR} bytes")
        try:
            self.interpreter = runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))
        except RuntimeError as e:
            raise ModelError(f"TFLite Micro cannot load the model: {str(e).strip().splitlines()[0]}") from e
        details = self.interpreter.get_input_details(0)
        self.input_shape = tuple(details["shape"])
        self._dtype = details["dtype"]

    def _run_one(self, sample):
        self.interpreter.set_input(sample.astype(self._dtype), 0)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_output(0))
