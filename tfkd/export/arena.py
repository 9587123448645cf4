"""The TFLite Micro tensor arena a model needs, measured by trying.

TFLite Micro plans every activation, scratch buffer and runtime structure into one
byte array, the arena, sized by the firmware. :func:`measure_arena` finds the
smallest size with which the real TFLite Micro interpreter (the ``tflite-micro``
package) both allocates the model and invokes it: sizes double until one works, then
a binary search narrows the gap to :data:`ARENA_RESOLUTION` bytes. Probes run in child
processes (see ``_PROBE``).

The measurement runs TFLite Micro's reference kernels on a 64-bit host. On a 32-bit
Cortex-M the runtime structures are smaller (4-byte pointers), but optimised kernels
such as CMSIS-NN request scratch buffers the reference kernels do not, and the arena
start may need re-aligning. :func:`arena_with_margin` therefore adds
:data:`ARENA_MARGIN_FRACTION` of the measurement plus :data:`ARENA_MARGIN_BYTES`.

Checked against the TFLite Micro C++ library (``tests/test_tflm_firmware.py``): for every test
model the measurement is at least ``arena_used_bytes()`` of the firmware on the host and on a
Cortex-M4 with CMSIS-NN kernels, where the 32-bit runtime used 12-27% less than on the host.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

from tfkd.model import TflmRunner, check_flatbuffer
from tfkd.model.runners import TFLM_ARENA_FLOOR as ARENA_FLOOR

ARENA_RESOLUTION = 16
ARENA_START = 1024
ARENA_LIMIT = 64 * 1024 * 1024
ARENA_MARGIN_FRACTION = 0.10
ARENA_MARGIN_BYTES = 1024
# Each probe runs in a child process: after a failed allocation the tflite-micro
# wrapper leaves corrupted heap state behind, and a later interpreter in the same
# process can crash. A child answers "1" (fits) or "0" per arena size read from stdin
# and exits after the first failure, with TFLite Micro's message on stderr; a crash also
# counts as "does not fit", and the prober keeps what the child wrote for the error.
_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(line))
        details = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()
    except RuntimeError as error:
        print(str(error).strip(), file=sys.stderr, flush=True)
        print(0, flush=True)
        sys.exit(0)
    print(1, flush=True)
"""


def tflm_interpreter(tflite_bytes, arena_size):
    """A TFLite Micro interpreter for ``tflite_bytes`` with an arena of ``arena_size`` bytes."""
    return TflmRunner(tflite_bytes, arena_size).interpreter


class _Prober:
    """Asks child processes whether the model allocates and invokes with a given arena."""

    def __init__(self, model_path):
        self._model_path = model_path
        self._child = None
        self._stderr = None
        self.last_error = ""  # the last line a failed child wrote to stderr

    def fits(self, arena_size):
        if self._child is None:
            self._stderr = tempfile.TemporaryFile()
            self._child = subprocess.Popen(
                [sys.executable, "-c", _PROBE, self._model_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            )
        try:
            self._child.stdin.write(f"{arena_size}\n")
            self._child.stdin.flush()
            answer = self._child.stdout.readline().strip()
        except BrokenPipeError:
            answer = ""
        if answer != "1":
            self.close()
        return answer == "1"

    def close(self):
        if self._child is not None:
            self._child.stdin.close()
            self._child.wait()
            self._child.stdout.close()
            self._child = None
            self._stderr.seek(0)
            lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines()]
            self._stderr.close()
            lines = [line for line in lines if line]
            if lines:
                self.last_error = lines[-1]


def measure_arena(tflite_bytes, limit=ARENA_LIMIT):
    """Smallest arena in bytes (a multiple of ``ARENA_RESOLUTION``) with which TFLite Micro
    allocates and invokes the model; ValueError when even ``limit`` bytes fail."""
    data = check_flatbuffer(tflite_bytes)
    with tempfile.TemporaryDirectory(prefix="tfkd-arena-") as directory:
        model_path = os.path.join(directory, "model.tflite")
        with open(model_path, "wb") as f:
            f.write(data)
        prober = _Prober(model_path)
        try:
            low, high = 0, ARENA_START  # low: known too small (or zero); high: candidate
            while not prober.fits(high):
                if high >= limit:
                    said = f" (the probe said: {prober.last_error})" if prober.last_error else ""
                    raise ValueError(
                        f"TFLite Micro cannot allocate and invoke the model with an arena of {limit:,} bytes{said}; "
                        "expected a model whose operators TFLite Micro supports (see `tfkd inspect`)"
                    )
                low, high = high, min(high * 2, limit)
            while high - low > ARENA_RESOLUTION:
                middle = (low + high) // 2 // ARENA_RESOLUTION * ARENA_RESOLUTION
                if prober.fits(middle):
                    high = middle
                else:
                    low = middle
        finally:
            prober.close()
    return high


def arena_with_margin(measured_bytes):
    """``measured_bytes`` plus the stated margin, rounded up to 16 bytes."""
    total = measured_bytes + int(np.ceil(measured_bytes * ARENA_MARGIN_FRACTION)) + ARENA_MARGIN_BYTES
    return -(-total // 16) * 16
