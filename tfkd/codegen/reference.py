"""TFLite Micro as the reference: its outputs, and the arena it needs, for the same model."""

import os
import subprocess
import sys
import tempfile

import numpy as np

# A generous arena for reference runs; the measured minimum is reported separately.
REFERENCE_ARENA_BYTES = 1 << 20
MAX_ARENA_BYTES = 1 << 26

# Runs in a child process because TFLite Micro may abort the process on a too-small arena.
_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
try:
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(sys.argv[2]))
    details = interpreter.get_input_details(0)
    interpreter.set_input(np.zeros(details["shape"], details["dtype"]), 0)
    interpreter.invoke()
except Exception:
    sys.exit(3)
"""


def tflm_outputs(tflite_bytes, inputs):
    """Runs TFLite Micro on every int8 sample of ``inputs``; returns int8 outputs, one flattened row per sample."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=REFERENCE_ARENA_BYTES)
    shape = interpreter.get_input_details(0)["shape"]
    rows = []
    for sample in np.asarray(inputs, dtype=np.int8):
        interpreter.set_input(sample.reshape(shape), 0)
        interpreter.invoke()
        rows.append(np.asarray(interpreter.get_output(0), dtype=np.int8).reshape(-1))
    return np.stack(rows)


def _fits(model_path, arena_bytes):
    result = subprocess.run([sys.executable, "-c", _PROBE, model_path, str(arena_bytes)],
                            capture_output=True, timeout=120)
    return result.returncode == 0


def tflm_arena_bytes(tflite_bytes):
    """The smallest ``arena_size`` with which TFLite Micro allocates and invokes the model (bisection)."""
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.tflite")
        with open(model_path, "wb") as f:
            f.write(bytes(tflite_bytes))
        low, high = 0, 4096  # low never fits; high is grown until it fits
        while not _fits(model_path, high):
            low, high = high, high * 2
            if high > MAX_ARENA_BYTES:
                raise ValueError(f"TFLite Micro cannot run the model even with a {MAX_ARENA_BYTES}-byte arena")
        while high - low > 1:
            middle = (low + high) // 2
            if _fits(model_path, middle):
                high = middle
            else:
                low = middle
        return high
