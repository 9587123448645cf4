"""The TFLite Micro tensor arena a model needs, measured by trying.

TFLite Micro plans every activation, scratch buffer and runtime structure into one
byte array, the arena, sized by the firmware. :func:`measure_arena` finds the
smallest size with which the real TFLite Micro interpreter (the ``tflite-micro``
package) both allocates the model and invokes it: sizes double until one works, then
a binary search narrows the gap to :data:`ARENA_RESOLUTION` bytes.

The measurement runs TFLite Micro's reference kernels on a 64-bit host. On a 32-bit
Cortex-M the runtime structures are smaller (4-byte pointers), but optimised kernels
such as CMSIS-NN request scratch buffers the reference kernels do not, and the arena
start may need re-aligning. :func:`arena_with_margin` therefore adds
:data:`ARENA_MARGIN_FRACTION` of the measurement plus :data:`ARENA_MARGIN_BYTES`.
"""

import contextlib
import os
import sys

import numpy as np

from tfkd.export.model_info import check_flatbuffer

ARENA_RESOLUTION = 16
ARENA_START = 1024
ARENA_LIMIT = 64 * 1024 * 1024
ARENA_MARGIN_FRACTION = 0.10
ARENA_MARGIN_BYTES = 1024


@contextlib.contextmanager
def _silenced_stderr():
    """TFLite Micro reports each failed allocation on the C stderr; probes are expected to fail."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tflm_interpreter(tflite_bytes, arena_size):
    """A TFLite Micro interpreter for ``tflite_bytes`` with an arena of ``arena_size`` bytes."""
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=int(arena_size))


def _fits(tflite_bytes, arena_size):
    try:
        with _silenced_stderr():
            interpreter = tflm_interpreter(tflite_bytes, arena_size)
            details = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
            interpreter.invoke()
    except RuntimeError:
        return False
    return True


def measure_arena(tflite_bytes, limit=ARENA_LIMIT):
    """Smallest arena in bytes (a multiple of ``ARENA_RESOLUTION``) with which TFLite Micro
    allocates and invokes the model; ValueError when even ``limit`` bytes fail."""
    data = check_flatbuffer(tflite_bytes)
    low, high = 0, ARENA_START  # low: known too small (or zero); high: known to fit
    while not _fits(data, high):
        if high >= limit:
            raise ValueError(
                f"TFLite Micro cannot allocate and invoke the model with an arena of {limit:,} bytes; "
                "expected a model whose operators TFLite Micro supports (see `tfkd inspect`)"
            )
        low, high = high, min(high * 2, limit)
    while high - low > ARENA_RESOLUTION:
        middle = (low + high) // 2 // ARENA_RESOLUTION * ARENA_RESOLUTION
        if middle <= low:
            break
        if _fits(data, middle):
            high = middle
        else:
            low = middle
    return high


def arena_with_margin(measured_bytes):
    """``measured_bytes`` plus the stated margin, rounded up to 16 bytes."""
    total = measured_bytes + int(np.ceil(measured_bytes * ARENA_MARGIN_FRACTION)) + ARENA_MARGIN_BYTES
    return -(-total // 16) * 16
