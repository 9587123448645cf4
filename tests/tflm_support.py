"""What the TFLite Micro firmware tests share: where TFLM is, the models they build, the Python reference.

The firmware tests need ``TFLM_DIR`` (a tflite-micro tree). Without it they skip, unless
``TFKD_REQUIRE_TFLM=1`` (CI sets it): then they fail, so that a CI run cannot pass without them.
The TFLM libraries come from ``tools/build_tflm.py``'s cache; the firmware Makefile builds a missing
one (minutes), which CI does once before the tests.
"""

import os
import shutil
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_tflm  # noqa: E402
import tflm_firmware  # noqa: E402

SAMPLE_COUNT = 32
SEED = 0


def tflm_dir():
    """The TFLM tree of ``TFLM_DIR``; skips (or fails under TFKD_REQUIRE_TFLM=1) when unset."""
    value = os.environ.get("TFLM_DIR")
    if not value:
        message = "TFLM_DIR is not set; set it to a tflite-micro tree to build and run the TFLM firmware"
        if os.environ.get("TFKD_REQUIRE_TFLM") == "1":
            pytest.fail(f"TFKD_REQUIRE_TFLM=1 but {message}", pytrace=False)
        pytest.skip(message)
    for tool in ("g++", "arm-none-eabi-g++", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"TFLM_DIR is set but {tool} is missing; install g++, gcc-arm-none-eabi, "
                        "libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-newlib and qemu-system-arm",
                        pytrace=False)
    return build_tflm.check_tflm_dir(value)


# --- the models --------------------------------------------------------------------------------

def _digits():
    import tfkd

    (x, _), (x_test, _), _ = tfkd.data.load("digits")
    return x, x_test


def digits_cnn():
    import tfkd

    return tfkd.models.cnn_student((8, 8, 1), 10), _digits()


def depthwise_separable():
    import tfkd

    return tfkd.models.ds_cnn_student((8, 8, 1), 10), _digits()


def mlp():
    import tfkd

    x, x_test = _digits()
    return tfkd.models.mlp_student(64, 10, width=16), (x.reshape(len(x), -1), x_test.reshape(len(x_test), -1))


def add_avgpool_softmax():
    """A residual block: CONV_2D twice, ADD, AVERAGE_POOL_2D, FULLY_CONNECTED and SOFTMAX."""
    import tf_keras

    inputs = tf_keras.Input((8, 8, 1))
    stem = tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    branch = tf_keras.layers.Conv2D(8, 3, padding="same")(stem)
    x = tf_keras.layers.Add()([stem, branch])
    x = tf_keras.layers.AveragePooling2D(2)(x)
    x = tf_keras.layers.Flatten()(x)
    x = tf_keras.layers.Dense(10)(x)
    outputs = tf_keras.layers.Softmax()(x)
    return tf_keras.Model(inputs, outputs, name="add_avgpool_softmax"), _digits()


MODELS = {"digits_cnn": digits_cnn, "depthwise_separable": depthwise_separable, "mlp": mlp,
          "add_avgpool_softmax": add_avgpool_softmax}


def int8_model(name):
    """``(tflite_bytes, int8 inputs)``: the model with seeded weights, converted to full int8, and
    SAMPLE_COUNT digits test inputs quantized with the model's own input scale and zero point."""
    import tf_keras

    import tfkd

    tf_keras.utils.set_random_seed(SEED)
    model, (x, x_test) = MODELS[name]()
    tflite_bytes = tfkd.export.to_tflite(model, x[:128], io="int8")
    quantization = reference_interpreter(tflite_bytes).get_input_details(0)["quantization_parameters"]
    scale, zero_point = float(np.ravel(quantization["scales"])[0]), int(np.ravel(quantization["zero_points"])[0])
    quantized = np.clip(np.round(x_test[:SAMPLE_COUNT] / scale) + zero_point, -128, 127).astype(np.int8)
    return tflite_bytes, quantized.reshape(SAMPLE_COUNT, -1)


# --- the reference: the tflite-micro Python package, not tfkd ------------------------------------

REFERENCE_ARENA = 1 << 20


def reference_interpreter(tflite_bytes):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=REFERENCE_ARENA)


def reference_outputs(tflite_bytes, inputs):
    """The TFLite Micro interpreter's int8 outputs for ``inputs``, one row each."""
    interpreter = reference_interpreter(tflite_bytes)
    shape = interpreter.get_input_details(0)["shape"]
    rows = []
    for row in inputs:
        interpreter.set_input(row.reshape(shape), 0)
        interpreter.invoke()
        rows.append(interpreter.get_output(0).reshape(-1).copy())
    return np.stack(rows)


def builtin_op_names(tflite_bytes):
    """The model's builtin operator names, read with TensorFlow's own flatbuffer schema."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytes(tflite_bytes), 0)
    by_code = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    codes = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        codes.add(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
    return {by_code[c] for c in codes}
