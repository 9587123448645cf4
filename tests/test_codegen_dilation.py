"""Keras' dilated convolutions (SPACE_TO_BATCH_ND -> convolution -> BATCH_TO_SPACE_ND, tfkd/codegen/dilation.py):
one dilated step, bit-exact with LiteRT's reference kernels on the model as converted and with TFLite Micro on
the model with the sandwiches folded (TFLite Micro miscomputes the model as converted)."""

import os
import shutil

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from codegen_models import SEED, random_int8_inputs
from tfkd.codegen import HostRunner, QemuRunner, cortex_m4, measure
from tfkd.model.dilation import fold_dilated_convolutions
from tfkd.codegen.footprint import reference_model
from tfkd.model import LiteRTRunner, TflmRunner, read_model

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")


def _convert(build, low=0.0, high=1.0):
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((12, 10, 3))
    model = tf_keras.Model(inputs, build(inputs))
    representative = np.random.default_rng(SEED).uniform(low, high, (32, 12, 10, 3)).astype(np.float32)
    # The converter's sandwiches as they are (to_tflite folds them by default), for codegen to lower.
    return tfkd.export.to_tflite(model, representative, io="int8", fold_dilations=False)


MODELS = {
    "conv_same": lambda i: layers.Conv2D(4, 3, dilation_rate=2, padding="same")(i),
    "conv_uneven": lambda i: layers.Conv2D(4, (3, 2), dilation_rate=(3, 2), padding="same", activation="relu")(i),
    "conv_valid": lambda i: layers.Conv2D(5, (5, 3), dilation_rate=(2, 4))(layers.Conv2D(6, 1)(i)),
    "depthwise_same": lambda i: layers.DepthwiseConv2D(3, dilation_rate=(2, 3), padding="same")(i),
    "depthwise_multiplier": lambda i: layers.DepthwiseConv2D(3, dilation_rate=2, depth_multiplier=2, padding="same")(i),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def dilated(request):
    return request.param, _convert(MODELS[request.param], *((-1.0, 1.0) if request.param == "conv_uneven" else ()))


def test_dilated_keras_layers_become_one_step_bit_exact(dilated):
    name, tflite_bytes = dilated
    kinds = [op.kind for op in read_model(tflite_bytes).operators]
    assert "SPACE_TO_BATCH_ND" in kinds and "BATCH_TO_SPACE_ND" in kinds
    runner = HostRunner(tflite_bytes)
    assert "SPACE_TO_BATCH_ND" not in runner.summary["ops"] and "BATCH_TO_SPACE_ND" not in runner.summary["ops"]
    inputs = random_int8_inputs(tflite_bytes, 32)
    ours = runner.run(inputs)
    # LiteRT runs the model as converted (it sizes the batched tensors at run time) ...
    np.testing.assert_array_equal(ours, LiteRTRunner(tflite_bytes).run(inputs).reshape(len(inputs), -1))
    # ... TFLite Micro the model with each sandwich folded into one dilated operator.
    folded = fold_dilated_convolutions(tflite_bytes)
    assert [op.kind for op in read_model(folded).operators] == runner.summary["ops"]
    np.testing.assert_array_equal(ours, TflmRunner(folded).run(inputs).reshape(len(inputs), -1))


def test_tflite_micro_miscomputes_them_as_converted(dilated):
    """Why the reference is folded: the converter stores the batched tensors with batch 1, and TFLite Micro, which
    sizes nothing at run time, computes one phase of the dilation only."""
    _, tflite_bytes = dilated
    name, reference = reference_model(tflite_bytes)
    assert name == "TFLite Micro (dilated convolutions folded)" and reference != tflite_bytes
    inputs = random_int8_inputs(tflite_bytes, 4)
    litert = LiteRTRunner(tflite_bytes).run(inputs).reshape(len(inputs), -1)
    assert not np.array_equal(TflmRunner(tflite_bytes).run(inputs).reshape(len(inputs), -1), litert)


def test_models_without_them_are_their_own_reference():
    tflite_bytes = _convert(lambda i: layers.Conv2D(4, 3, padding="same")(i))
    assert reference_model(tflite_bytes) == ("TFLite Micro", tflite_bytes)
    assert fold_dilated_convolutions(tflite_bytes) == tflite_bytes


@pytest.mark.skipif(bool(cortex_m4.missing_tools()), reason="no Arm toolchain or QEMU")
def test_dilated_steps_are_bit_exact_on_cortex_m4():
    tflite_bytes = _convert(lambda i: layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(
        layers.Conv2D(8, 3, dilation_rate=(2, 3), padding="same")(i)))
    inputs = random_int8_inputs(tflite_bytes, 4)
    result = measure(tflite_bytes, inputs)
    assert result["reference"] == "TFLite Micro (dilated convolutions folded)" and result["matches_reference"]
    assert not result["matches_tflm"]
    np.testing.assert_array_equal(QemuRunner(tflite_bytes).run(inputs),
                                  LiteRTRunner(tflite_bytes).run(inputs).reshape(len(inputs), -1))
