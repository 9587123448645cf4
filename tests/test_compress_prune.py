"""tfkd.compress.prune: requested sparsity per kernel, 2:4 groups, PQAT keeps zeros, int8, save/load."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

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


@pytest.fixture(scope="module")
def pruned(digits_slice, teacher_and_student):
    (x, y), _ = digits_slice
    teacher, student = teacher_and_student
    before = [w.copy() for w in student.get_weights()]
    model = tfkd.compress.prune(student, (x, y), teacher=teacher, target_sparsity=0.6, epochs=1, verbose=0)
    after = student.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "prune changed its input model"
    return model


def test_teacher_guided_pruning_reaches_sparsity_in_every_kernel(pruned):
    kernels = prunable_kernels(pruned)
    assert set(kernels) == {"conv_1", "conv_2", "logits"}
    for name, kernel in kernels.items():
        sparsity = 1 - np.count_nonzero(kernel) / kernel.size
        assert abs(sparsity - 0.6) <= 0.01, (name, sparsity)
    # Stripped: ordinary layers, no TF-MOT wrappers left.
    assert not any(isinstance(layer, tf.keras.layers.Wrapper) or "prune" in layer.name for layer in pruned.layers)
    assert abs(tfkd.compress.summary(pruned).sparsity - 0.6) <= 0.01


def test_constant_schedule_on_a_dataset_with_exclusion(digits_slice, teacher_and_student):
    (x, y), _ = digits_slice
    _, student = teacher_and_student
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    model = tfkd.compress.prune(
        student, dataset, target_sparsity=0.5, schedule="constant", epochs=1, exclude=["conv_1"], verbose=0
    )
    kernels = prunable_kernels(model)
    assert np.count_nonzero(kernels["conv_1"]) == kernels["conv_1"].size
    for name in ("conv_2", "logits"):
        assert abs(1 - np.count_nonzero(kernels[name]) / kernels[name].size - 0.5) <= 0.01


def test_2_by_4_pattern_holds_in_every_group(digits_slice, teacher_and_student):
    (x, y), _ = digits_slice
    teacher, student = teacher_and_student
    model = tfkd.compress.prune(student, (x, y), teacher=teacher, structure="2:4", epochs=1, verbose=0)
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

    for name, kernel in prunable_kernels(model).items():
        # Groups of four run along the input channels, as TFLite lays kernels out.
        rows = pruning_utils.weights_rearrange(tf.constant(kernel)).numpy()
        width = rows.shape[1]
        for start in range(0, width, 4):
            group = rows[:, start : start + 4]
            assert (np.count_nonzero(group, axis=1) <= 2).all(), name
        if width >= 4:
            assert abs(1 - np.count_nonzero(rows) / rows.size - 0.5) <= 0.01, name


def test_pqat_keeps_sparsity_and_converts_to_int8(pruned, digits_slice, teacher_and_student, tmp_path):
    (x, y), (x_test, _) = digits_slice
    teacher, _ = teacher_and_student
    assert tfkd.compress.choose_scheme(pruned) == "prune_preserve"
    qat = tfkd.compress.quantize(pruned, (x, y), teacher=teacher, epochs=1, verbose=0)
    before = prunable_kernels(pruned)
    after = qat_kernels(qat)
    assert set(after) == set(before)
    for name in before:
        sparsity = lambda k: 1 - np.count_nonzero(k) / k.size  # noqa: E731
        assert abs(sparsity(after[name]) - sparsity(before[name])) <= 0.005, name

    outputs, interpreter = run_int8(tfkd.export.to_tflite(qat, x), x_test[:20])
    assert outputs.shape == (20, 10)
    weights = int8_weights(interpreter)
    int8_sparsity = 1 - sum(np.count_nonzero(w) for w in weights) / sum(w.size for w in weights)
    assert abs(int8_sparsity - tfkd.compress.summary(pruned).sparsity) <= 0.005
    assert_round_trip(qat, tmp_path / "pqat.keras", x_test)


def test_pruned_model_converts_and_round_trips(pruned, digits_slice, tmp_path):
    (x, _), (x_test, _) = digits_slice
    outputs, _ = run_int8(tfkd.export.to_tflite(pruned, x), x_test[:20])
    assert outputs.shape == (20, 10)
    assert_round_trip(pruned, tmp_path / "pruned.keras", x_test)
    assert_round_trip(pruned, tmp_path / "pruned.h5", x_test)


def test_pruning_summaries_written_to_log_dir(digits_slice, teacher_and_student, tmp_path):
    (x, y), _ = digits_slice
    teacher, student = teacher_and_student
    tfkd.compress.prune(student, (x[:256], y[:256]), teacher=teacher, epochs=1, log_dir=str(tmp_path), verbose=0)
    assert any(path.name.startswith("events") for path in tmp_path.rglob("*"))


def test_unlabelled_inputs_need_a_teacher(digits_slice, teacher_and_student):
    (x, _), _ = digits_slice
    teacher, student = teacher_and_student
    model = tfkd.compress.prune(student, x, teacher=teacher, target_sparsity=0.5, epochs=1, verbose=0)
    assert abs(tfkd.compress.summary(model).sparsity - 0.5) <= 0.01
    with pytest.raises(ValueError, match="no labels.*teacher="):
        tfkd.compress.prune(student, x, epochs=1, verbose=0)


def test_schedule_steps_land_on_the_target():
    from tfkd.compress.prune import pruning_schedule

    schedule = pruning_schedule("polynomial", 0.75, 90)
    assert isinstance(schedule, tfmot.sparsity.keras.PolynomialDecay)
    assert schedule.end_step % schedule.frequency == 0 and schedule.end_step < 90
    assert float(schedule(tf.constant(schedule.end_step, tf.int64))[1]) == pytest.approx(0.75)
