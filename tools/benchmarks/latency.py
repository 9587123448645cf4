"""Per-sample inference latency: the float Keras student against its int8 model on LiteRT and TFLite Micro.

Every runtime is called on one sample at a time, as an application or a firmware loop
does; each call is timed and the median over the samples is reported (after a few
untimed warm-up calls). The int8 runtimes get samples already quantized to int8, so
their times are the interpreter's ``invoke`` plus input/output copies. TFLite Micro runs
through its Python interpreter on this host: its reference kernels, not a microcontroller.
"""

import time

import numpy as np
import tensorflow as tf

from tfkd.export import arena
from tfkd.model import quantize, read_model

RUNTIMES = ("float Keras, eager call", "float Keras, tf.function", "int8 LiteRT", "int8 TFLite Micro")
WARMUP_CALLS = 5


def _litert(tflite_bytes):
    from ai_edge_litert.interpreter import Interpreter

    # Default resolver (XNNPACK where it applies): what an application on a phone or PC gets.
    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    def run(sample):
        interpreter.set_tensor(input_index, sample)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return run


def _tflm(tflite_bytes, arena_bytes):
    interpreter = arena.tflm_interpreter(tflite_bytes, arena_bytes)

    def run(sample):
        interpreter.set_input(sample, 0)
        interpreter.invoke()
        return interpreter.get_output(0)

    return run


def _median_seconds(run, samples):
    for sample in samples[:WARMUP_CALLS]:
        run(sample)
    times = []
    for sample in samples:
        start = time.perf_counter()
        run(sample)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(model, tflite_bytes, x, arena_bytes):
    """Median seconds per sample of each of ``RUNTIMES`` over the samples of ``x``."""
    x = np.asarray(x, dtype=np.float32)
    float_samples = [sample[None] for sample in x]
    model_input = read_model(tflite_bytes).inputs[0]
    int8_samples = [quantize(sample, model_input.scale, model_input.zero_point) for sample in float_samples]
    compiled = tf.function(lambda sample: model(sample, training=False))
    runs = {
        "float Keras, eager call": (lambda sample: model(sample, training=False), float_samples),
        "float Keras, tf.function": (compiled, float_samples),
        "int8 LiteRT": (_litert(tflite_bytes), int8_samples),
        "int8 TFLite Micro": (_tflm(tflite_bytes, arena_bytes), int8_samples),
    }
    return {name: _median_seconds(run, samples) for name, (run, samples) in runs.items()}
