"""tfkd.compress.cluster and quantize: clusters kept through CQAT/PCQAT, int8 conversion, save/load, summary."""

import doctest
import importlib

import numpy as np
import pytest
import tf_keras

import tfkd
from compress_fixtures import (  # noqa: F401  (fixtures)
    assert_round_trip,
    digits_slice,
    int8_weights,
    prunable_kernels,
    qat_kernels,
    run_int8,
    teacher_and_student,
)

N_CLUSTERS = 8


def per_channel_unique(kernel):
    return max(np.unique(kernel[..., c]).size for c in range(kernel.shape[-1]))


@pytest.fixture(scope="module")
def clustered(digits_slice, teacher_and_student):
    (x, y), _ = digits_slice
    teacher, student = teacher_and_student
    return tfkd.compress.cluster(student, (x, y), teacher=teacher, n_clusters=N_CLUSTERS, epochs=1, verbose=0)


def test_clustered_kernels_hold_at_most_n_values(clustered):
    for name, kernel in prunable_kernels(clustered).items():
        assert np.unique(kernel).size <= N_CLUSTERS, name
    assert tfkd.compress.summary(clustered).max_unique_values <= N_CLUSTERS
    assert tfkd.compress.choose_scheme(clustered) == "cluster_preserve"


def test_cqat_keeps_clusters_in_float_and_int8(clustered, digits_slice, teacher_and_student, tmp_path):
    (x, y), (x_test, _) = digits_slice
    teacher, _ = teacher_and_student
    qat = tfkd.compress.quantize(clustered, (x, y), teacher=teacher, epochs=1, verbose=0)
    kernels = qat_kernels(qat)
    assert set(kernels) == {"conv_1", "conv_2", "logits"}
    for name, kernel in kernels.items():
        # TF-MOT keeps Conv2D clusters per output channel, like int8 per-channel scales.
        assert per_channel_unique(kernel) <= N_CLUSTERS, name
    assert np.unique(kernels["logits"]).size <= N_CLUSTERS

    outputs, interpreter = run_int8(tfkd.export.to_tflite(qat, x), x_test[:20])
    assert outputs.shape == (20, 10)
    weights = int8_weights(interpreter)
    assert len(weights) == 3
    for weight in weights:
        # TFLite puts output channels first.
        assert max(np.unique(channel).size for channel in weight) <= N_CLUSTERS
    assert_round_trip(qat, tmp_path / "cqat.keras", x_test)
    assert_round_trip(qat, tmp_path / "cqat.h5", x_test)


def test_prune_then_cluster_keeps_zeros_through_pcqat(digits_slice, teacher_and_student):
    (x, y), (x_test, _) = digits_slice
    teacher, student = teacher_and_student
    pruned = tfkd.compress.prune(student, (x, y), teacher=teacher, target_sparsity=0.5, epochs=1, verbose=0)
    clustered = tfkd.compress.cluster(pruned, (x, y), teacher=teacher, n_clusters=N_CLUSTERS, epochs=1, verbose=0)
    assert abs(tfkd.compress.summary(clustered).sparsity - 0.5) <= 0.01
    assert tfkd.compress.choose_scheme(clustered) == "prune_cluster_preserve"
    qat = tfkd.compress.quantize(clustered, (x, y), teacher=teacher, epochs=1, verbose=0)
    before, after = prunable_kernels(clustered), qat_kernels(qat)
    for name in before:
        sparsity = lambda k: 1 - np.count_nonzero(k) / k.size  # noqa: E731
        assert abs(sparsity(after[name]) - sparsity(before[name])) <= 0.005, name
        assert per_channel_unique(after[name]) <= N_CLUSTERS, name
    outputs, _ = run_int8(tfkd.export.to_tflite(qat, x), x_test[:10])
    assert outputs.shape == (10, 10)


def test_default_qat_quantizes_kernels_before_relu_layers(digits_slice, teacher_and_student, tmp_path):
    (x, y), (x_test, _) = digits_slice
    _, student = teacher_and_student
    qat = tfkd.compress.quantize(student, (x, y), scheme="default", epochs=1, verbose=0)
    # conv_1 and conv_2 feed ReLU layers; TF-MOT alone would leave their kernels unquantized.
    assert set(qat_kernels(qat)) == {"conv_1", "conv_2", "logits"}
    outputs, _ = run_int8(tfkd.export.to_tflite(qat, x), x_test[:10])
    assert outputs.shape == (10, 10)
    assert_round_trip(qat, tmp_path / "qat.keras", x_test)


def test_clustered_model_converts_and_round_trips(clustered, digits_slice, tmp_path):
    (x, _), (x_test, _) = digits_slice
    outputs, _ = run_int8(tfkd.export.to_tflite(clustered, x), x_test[:10])
    assert outputs.shape == (10, 10)
    assert_round_trip(clustered, tmp_path / "clustered.keras", x_test)


def test_summary_table_and_dict(clustered):
    report = tfkd.compress.summary(clustered)
    data = report.to_dict()
    assert data["params"] == clustered.count_params()
    assert [row["layer"] for row in data["layers"]] == ["conv_1", "conv_2", "logits"]
    assert all(row["unique_values"] <= N_CLUSTERS for row in data["layers"])
    text = str(report)
    assert "conv_2" in text and "sparsity" in text and "unique" in text


def test_depthwise_kernels_cluster_only_when_asked(digits_slice, tmp_path):
    """TF-MOT's registry leaves DepthwiseConv2D kernels alone; depthwise=True clusters them through TF-MOT."""
    (x, y), (x_test, _) = digits_slice
    tf_keras.utils.set_random_seed(0)
    student = tfkd.models.ds_cnn_student((8, 8, 1), 10)
    student.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    student.fit(x, y, epochs=1, batch_size=32, verbose=0)

    def depthwise_distinct(model):
        return {layer.name: np.unique(layer.depthwise_kernel.numpy()).size
                for layer in model.layers if isinstance(layer, tf_keras.layers.DepthwiseConv2D)}

    plain = tfkd.compress.cluster(student, (x, y), n_clusters=N_CLUSTERS, epochs=1, verbose=0)
    # 3x3 kernels of 16 channels: 144 trained values each.
    assert depthwise_distinct(plain) == {"depthwise_2": 144, "depthwise_3": 144}
    both = tfkd.compress.cluster(student, (x, y), n_clusters=N_CLUSTERS, epochs=1, verbose=0, depthwise=True)
    assert all(n <= N_CLUSTERS for n in depthwise_distinct(both).values())
    assert tfkd.compress.summary(both).max_unique_values <= N_CLUSTERS
    # The layers come back as tf_keras's own class: the model saves and loads without custom objects.
    assert {type(both.get_layer(name)) for name in ("depthwise_2", "depthwise_3")} == {tf_keras.layers.DepthwiseConv2D}
    assert_round_trip(both, tmp_path / "depthwise.keras", x_test)
    # The int8 model keeps the clusters: each depthwise channel holds at most N_CLUSTERS int8 values.
    _, interpreter = run_int8(tfkd.export.to_tflite(both, x), x_test[:10])
    # TFLite's depthwise filters are 1 x 3 x 3 x channels; other filters start with their output channels,
    # activations are 1 x 8 x 8 x channels.
    depthwise = [w for w in int8_weights(interpreter) if w.shape[:3] == (1, 3, 3)]
    assert len(depthwise) == 2
    assert all(per_channel_unique(w) <= N_CLUSTERS for w in depthwise)


@pytest.mark.parametrize("module_name", ["tfkd.compress", "tfkd.compress.summary", "tfkd.saving"])
def test_docstring_examples(module_name):
    tf_keras.utils.set_random_seed(0)
    module = importlib.import_module(module_name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
