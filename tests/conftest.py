"""Shared fixtures: the digits data and one briefly trained reference teacher."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tfkd  # noqa: E402


def sparse_ce():
    import tf_keras

    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(scope="session")
def digits():
    return tfkd.data.load("digits")


@pytest.fixture(scope="session")
def digits_teacher(digits):
    """The reference CNN teacher trained on the whole digits training split (about 99% test accuracy)."""
    import tf_keras

    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(0)
    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10)
    teacher.compile(tf_keras.optimizers.Adam(1e-3), sparse_ce(), ["accuracy"])
    teacher.fit(x, y, epochs=10, batch_size=32, verbose=0)
    return teacher


@pytest.fixture
def few_labels(digits):
    """15 labelled training samples per class."""
    (x, y), _, _ = digits
    index = np.concatenate([np.where(y == c)[0][:15] for c in range(10)])
    return x[index], y[index]


@pytest.fixture(scope="session")
def cnn_student():
    """``(int8 flatbuffer, int8 test inputs)`` of the reference CNN student trained briefly on digits."""
    from codegen_models import trained_digits_tflite

    return trained_digits_tflite(tfkd.models.cnn_student)


@pytest.fixture(scope="session")
def ds_cnn_student():
    """The same for the depthwise-separable student."""
    from codegen_models import trained_digits_tflite

    return trained_digits_tflite(tfkd.models.ds_cnn_student)
