"""Networks shaped like the ones people deploy, generated C against TFLite Micro on the host and on QEMU."""

import os
import shutil

import numpy as np
import pytest

from codegen_models import DEPLOYED_MODELS, deployed_tflite, random_int8_inputs
from tfkd.codegen import HostRunner, QemuRunner, cortex_m4
from tfkd.model import TflmRunner, read_model

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")

EXPECTED_OPS = {
    "ds_cnn_kws": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "resnet8": {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "mobilenet_v1_025": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "fc_autoencoder": {"FULLY_CONNECTED"},
}


@pytest.fixture(scope="module")
def deployed():
    return {name: deployed_tflite(builder) for name, builder in DEPLOYED_MODELS.items()}


@pytest.mark.parametrize("name", list(DEPLOYED_MODELS))
def test_deployed_model_is_bit_exact_on_the_host(name, deployed):
    tflite_bytes = deployed[name]
    assert EXPECTED_OPS[name] <= set(read_model(tflite_bytes).op_names)
    inputs = random_int8_inputs(tflite_bytes, 16)
    np.testing.assert_array_equal(HostRunner(tflite_bytes).run(inputs), TflmRunner(tflite_bytes).run(inputs))


@pytest.mark.skipif(bool(cortex_m4.missing_tools()), reason="Arm toolchain or QEMU not on PATH")
@pytest.mark.parametrize("name", list(DEPLOYED_MODELS))
def test_deployed_model_is_bit_exact_on_cortex_m4(name, deployed):
    tflite_bytes = deployed[name]
    inputs = random_int8_inputs(tflite_bytes, 3, seed=1)
    np.testing.assert_array_equal(QemuRunner(tflite_bytes).run(inputs), TflmRunner(tflite_bytes).run(inputs))
