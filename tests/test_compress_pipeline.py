"""The demo's chain prune (conv_1 left dense) -> cluster -> PCQAT -> int8 keeps every kernel's zeros and clusters."""

import numpy as np
import pytest
import tf_keras

import tfkd
from compress_fixtures import (  # noqa: F401  (fixtures)
    digits_slice,
    prunable_kernels,
    qat_kernels,
    run_int8,
    teacher_and_student,
)

TARGET_SPARSITY = 0.75
N_CLUSTERS = 8
# Sparsity may move by at most half a point from the clustered model to QAT and int8.
TOLERANCE = 0.005


def sparsity(kernel):
    return 1.0 - np.count_nonzero(kernel) / kernel.size


def per_channel_unique(kernel, axis):
    return max(np.unique(np.take(kernel, c, axis=axis)).size for c in range(kernel.shape[axis]))


@pytest.fixture(scope="module")
def chain(digits_slice, teacher_and_student):
    (x, y), (x_test, _) = digits_slice
    teacher, student = teacher_and_student
    tf_keras.utils.set_random_seed(0)
    # conv_1 left dense, as the demo does: a kernel without zeros among pruned ones of
    # the same layer type is what used to switch sparsity preservation off in PCQAT.
    pruned = tfkd.compress.prune(
        student, (x, y), teacher=teacher, target_sparsity=TARGET_SPARSITY, exclude=("conv_1",), epochs=1, verbose=0
    )
    clustered = tfkd.compress.cluster(
        pruned, (x, y), teacher=teacher, n_clusters=N_CLUSTERS, preserve_sparsity=True, epochs=1, verbose=0
    )
    assert tfkd.compress.choose_scheme(clustered) == "prune_cluster_preserve"
    qat = tfkd.compress.quantize(clustered, (x, y), teacher=teacher, epochs=1, verbose=0)
    _, interpreter = run_int8(tfkd.export.to_tflite(qat, x, io="int8"), x_test[:2])
    return clustered, qat, interpreter


def int8_kernels(interpreter, clustered):
    """The int8 kernel of each Conv2D/Dense layer, found by its TFLite shape (output channels first)."""
    constants = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int8:
            continue
        try:
            constants.append(interpreter.get_tensor(detail["index"]))
        except ValueError:  # activations hold no data outside invoke
            continue
    found = {}
    for name, kernel in prunable_kernels(clustered).items():
        shape = (kernel.shape[-1], *kernel.shape[:-1])
        matches = [t for t in constants if t.shape == shape]
        assert len(matches) == 1, f"{name}: {len(matches)} int8 tensors of shape {shape}"
        found[name] = matches[0]
    return found


def test_clustered_model_is_pruned_except_conv_1(chain):
    clustered, _, _ = chain
    kernels = prunable_kernels(clustered)
    assert sparsity(kernels["conv_1"]) == 0.0
    for name in ("conv_2", "logits"):
        assert abs(sparsity(kernels[name]) - TARGET_SPARSITY) <= TOLERANCE, name
        assert np.unique(kernels[name]).size <= N_CLUSTERS, name


def test_pcqat_keeps_every_kernels_zeros_and_clusters(chain):
    clustered, qat, _ = chain
    before, after = prunable_kernels(clustered), qat_kernels(qat)
    assert set(after) == set(before)
    for name, kernel in before.items():
        assert abs(sparsity(after[name]) - sparsity(kernel)) <= TOLERANCE, name
        # Pruned weights stay exactly where they were.
        assert np.all(after[name][kernel == 0] == 0), name
        # TF-MOT keeps Conv2D clusters per output channel (the last Keras axis).
        assert per_channel_unique(after[name], axis=-1) <= N_CLUSTERS, name
    assert np.unique(after["logits"]).size <= N_CLUSTERS
    assert abs(tfkd.compress.summary(qat).sparsity - tfkd.compress.summary(clustered).sparsity) <= TOLERANCE


def test_int8_tflite_keeps_every_kernels_zeros_and_clusters(chain):
    clustered, _, interpreter = chain
    before, int8 = prunable_kernels(clustered), int8_kernels(interpreter, clustered)
    for name, kernel in before.items():
        assert abs(sparsity(int8[name]) - sparsity(kernel)) <= TOLERANCE, name
        # Per-channel int8 scales map each output channel's clusters to as many int8 values.
        assert per_channel_unique(int8[name], axis=0) <= N_CLUSTERS, name
    # Dense kernels are quantized per tensor: the whole kernel keeps its clusters.
    assert np.unique(int8["logits"]).size <= N_CLUSTERS
