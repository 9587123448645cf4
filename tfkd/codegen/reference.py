"""TFLite Micro as the reference: the outputs the generated C must reproduce bit for bit."""

import numpy as np

# A generous arena for reference runs; the measured minimum is reported by tfkd.export.measure_arena.
REFERENCE_ARENA_BYTES = 1 << 20


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
