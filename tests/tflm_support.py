"""What the TFLite Micro firmware tests share: where TFLM is, the models they build, the Python reference.

The firmware tests need ``TFLM_DIR`` (a tflite-micro tree). Without it they skip, unless
``TFKD_REQUIRE_TFLM=1`` (CI sets it): then they fail, so that a CI run cannot pass without them.
The TFLM libraries come from ``tools/build_tflm.py``'s cache; the firmware Makefile builds a missing
one (minutes), which CI does once before the tests.
"""

import os
import shutil
import sys

import pytest

from tfkd.model import TflmRunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_tflm  # noqa: E402
import tflm_firmware  # noqa: E402
import tflm_models  # noqa: E402
from tflm_models import MODELS, SAMPLE_COUNT, int8_model  # noqa: E402,F401  (shared with the benchmark)



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


# --- the reference: the tflite-micro Python package, not tfkd ------------------------------------

REFERENCE_ARENA = 1 << 20


def reference_interpreter(tflite_bytes):
    return TflmRunner(tflite_bytes, arena_size=REFERENCE_ARENA).interpreter


def reference_outputs(tflite_bytes, inputs):
    """The TFLite Micro interpreter's int8 outputs for ``inputs``, one row each."""
    return TflmRunner(tflite_bytes, arena_size=REFERENCE_ARENA).run(inputs)


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
