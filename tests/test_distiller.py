"""The Distiller trained as users train it: fit, evaluate, callbacks, saving, bad input."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfkd
from conftest import sparse_ce


def make_distiller(teacher, seed=0, lr=1e-2, **kwargs):
    tf_keras.utils.set_random_seed(seed)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=teacher, **kwargs)
    distiller.compile(optimizer=tf_keras.optimizers.Adam(lr), loss=sparse_ce(), metrics=["accuracy"])
    return distiller


def test_distillation_beats_scratch_with_few_labels(digits, digits_teacher, few_labels):
    """Soft targets help most where labels are few: 15 labelled samples per class, 3 seeds."""
    _, (x_test, y_test), _ = digits
    x, y = few_labels
    gains = []
    for seed in range(3):
        tf_keras.utils.set_random_seed(seed)
        scratch = tfkd.models.cnn_student((8, 8, 1), 10)
        scratch.compile(tf_keras.optimizers.Adam(1e-2), sparse_ce(), ["accuracy"])
        scratch.fit(x, y, epochs=40, batch_size=32, verbose=0)
        scratch_accuracy = scratch.evaluate(x_test, y_test, verbose=0)[1]
        distiller = make_distiller(digits_teacher, seed=seed, temperature=4.0, alpha=0.1)
        distiller.fit(x, y, epochs=40, batch_size=32, verbose=0)
        distilled_accuracy = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
        gains.append(distilled_accuracy - scratch_accuracy)
    assert min(gains) > 0.0, gains
    assert np.mean(gains) >= 0.012, gains  # measured: +2.1 points on average


def test_history_reports_each_term_and_teacher_never_changes(digits, digits_teacher):
    (x, y), (x_test, y_test), _ = digits
    before = [w.copy() for w in digits_teacher.get_weights()]
    hint = tfkd.losses.FeatureHint([("features_4", "features_2")])
    attention = tfkd.losses.AttentionTransfer([("features_2", "features_1")])
    distiller = make_distiller(digits_teacher, feature_losses=[hint, attention])
    history = distiller.fit(x[:256], y[:256], epochs=2, batch_size=64, verbose=0, validation_data=(x_test, y_test))
    for key in ("loss", "student_loss", "distillation_loss", "feature_hint_loss", "attention_transfer_loss",
                "accuracy", "alpha", "temperature", "val_accuracy", "val_distillation_loss"):
        assert key in history.history, key
    assert all(np.array_equal(a, b) for a, b in zip(before, digits_teacher.get_weights()))
    # the adapter maps the student's 16 channels to the teacher's 128 and trains with it
    assert hint.adapters[0].kernel.shape == (1, 1, 16, 128)
    assert any(v is hint.adapters[0].kernel for v in distiller.trainable_variables_to_update())


def test_saved_student_reloads_identically_without_adapters(tmp_path, digits, digits_teacher):
    (x, y), (x_test, _), _ = digits
    hint = tfkd.losses.FeatureHint([("features_4", "features_2")])
    distiller = make_distiller(digits_teacher, feature_losses=[hint])
    distiller.fit(x[:128], y[:128], epochs=1, verbose=0)
    path = str(tmp_path / "student.keras")
    distiller.student.save(path)
    reloaded = tfkd.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x_test, verbose=0), distiller.predict(x_test, verbose=0))
    assert not any("adapter" in w.name for w in reloaded.weights)
    assert reloaded.count_params() == distiller.student.count_params()


def test_sample_weights_of_zero_leave_the_student_unchanged(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = make_distiller(digits_teacher)
    before = [w.copy() for w in distiller.student.get_weights()]
    distiller.fit(x[:64], y[:64], sample_weight=np.zeros(64), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, distiller.student.get_weights()))
    distiller.fit(x[:64], y[:64], sample_weight=np.ones(64), epochs=1, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, distiller.student.get_weights()))


def test_tf_data_and_unlabelled_transfer_data(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = make_distiller(digits_teacher)
    labelled = tf.data.Dataset.from_tensor_slices((x[:128], y[:128])).batch(32)
    history = distiller.fit(labelled, epochs=1, verbose=0)
    assert "student_loss" in history.history
    unlabelled = tf.data.Dataset.from_tensor_slices(x[:256]).batch(32)
    history = distiller.fit(unlabelled, epochs=3, verbose=0)
    assert "student_loss" not in history.history
    losses = history.history["distillation_loss"]
    assert losses[-1] < losses[0]
    history = distiller.fit(x[:256], epochs=1, verbose=0)
    assert "student_loss" not in history.history


def test_cached_teacher_outputs_train_like_the_online_teacher(digits, digits_teacher):
    (x, y), (x_test, _), _ = digits
    online = make_distiller(digits_teacher, seed=3)
    online.fit(x[:256], y[:256], epochs=2, batch_size=32, shuffle=False, verbose=0)
    cached = make_distiller(digits_teacher, seed=3, cache_teacher=True)
    cached.fit(x[:256], y[:256], epochs=2, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        cached.predict(x_test, verbose=0), online.predict(x_test, verbose=0), rtol=1e-3, atol=1e-3
    )


def test_schedules_change_alpha_and_temperature_without_retracing(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = make_distiller(digits_teacher, temperature=8.0, alpha=0.0)
    callbacks = [
        tfkd.callbacks.LinearSchedule("alpha", start=0.0, end=0.5, epochs=3),
        tfkd.callbacks.CosineSchedule("temperature", start=8.0, end=2.0, epochs=3),
    ]
    distiller.fit(x[:64], y[:64], epochs=1, verbose=0)
    traces = distiller.train_function.experimental_get_tracing_count()
    history = distiller.fit(x[:64], y[:64], epochs=3, callbacks=callbacks, verbose=0)
    np.testing.assert_allclose(history.history["alpha"], [0.0, 0.25, 0.5], atol=1e-6)
    np.testing.assert_allclose(history.history["temperature"], [8.0, 5.0, 2.0], atol=1e-5)
    assert distiller.train_function.experimental_get_tracing_count() == traces


def test_on_plateau_lowers_the_temperature(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = make_distiller(digits_teacher, temperature=8.0, lr=0.0)
    plateau = tfkd.callbacks.OnPlateau("temperature", monitor="loss", factor=0.5, patience=0, min_delta=1.0)
    history = distiller.fit(x[:64], y[:64], epochs=3, callbacks=[plateau], verbose=0)
    assert history.history["temperature"] == [8.0, 8.0, 4.0]


def test_uncertainty_weighting_and_teacher_error_weight_are_logged_and_applied(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = make_distiller(digits_teacher, loss_weighting="uncertainty")
    history = distiller.fit(x[:128], y[:128], epochs=2, verbose=0)
    assert history.history["weight_student_loss"][-1] != 1.0
    assert "weight_distillation_loss" in history.history
    y_wrong = (y[:64] + 1) % 10  # the teacher disagrees with every label
    kept = make_distiller(digits_teacher, teacher_error_weight=1.0, lr=0.0)
    dropped = make_distiller(digits_teacher, teacher_error_weight=0.0, lr=0.0)
    kept_loss = kept.evaluate(x[:64], y_wrong, verbose=0, return_dict=True)["distillation_loss"]
    dropped_loss = dropped.evaluate(x[:64], y_wrong, verbose=0, return_dict=True)["distillation_loss"]
    assert kept_loss > 0.0 and dropped_loss == 0.0


def test_two_stage_hints_train_only_the_hinted_layers_first(digits, digits_teacher):
    (x, y), _, _ = digits
    hint = tfkd.losses.FeatureHint([("features_4", "features_2")], hint_epochs=1)
    distiller = make_distiller(digits_teacher, feature_losses=[hint])
    head = distiller.student.get_layer("logits")
    before = [w.copy() for w in head.get_weights()]
    distiller.fit(x[:64], y[:64], epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, head.get_weights()))
    distiller.fit(x[:64], y[:64], epochs=2, initial_epoch=1, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, head.get_weights()))


def test_jit_compile(digits, digits_teacher):
    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(0)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=digits_teacher)
    distiller.compile(optimizer=tf_keras.optimizers.Adam(1e-2), loss=sparse_ce(), jit_compile=True)
    history = distiller.fit(x[:256], y[:256], epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_teachers_of_every_kind(tmp_path, digits, digits_teacher):
    (x, y), _, _ = digits
    reference = digits_teacher.predict(x[:32], verbose=0)
    saved_model = str(tmp_path / "teacher_savedmodel")
    digits_teacher.export(saved_model)
    import keras  # Keras 3 on the TensorFlow backend

    keras3 = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    for teacher in (saved_model, lambda batch: digits_teacher(batch, training=False), keras3):
        distiller = make_distiller(teacher)
        distiller.fit(x[:64], y[:64], epochs=1, verbose=0)
    outputs = tfkd.teachers.Teacher(saved_model)(tf.constant(x[:32]))
    np.testing.assert_allclose(outputs.numpy(), reference, atol=1e-4)


def test_several_teachers_with_weights(digits, digits_teacher):
    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(1)
    second = tfkd.models.cnn_teacher((8, 8, 1), 10, width=8)
    distiller = make_distiller([digits_teacher, second], teacher_weights=[3, 1])
    assert distiller._teachers.weights == [0.75, 0.25]
    assert distiller.teacher == [digits_teacher, second]
    history = distiller.fit(x[:64], y[:64], epochs=1, verbose=0)
    assert np.isfinite(history.history["distillation_loss"][0])


def test_model_checkpoint_early_stopping_and_tensorboard(tmp_path, digits, digits_teacher):
    (x, y), (x_test, y_test), _ = digits
    distiller = make_distiller(digits_teacher)
    weights_path = str(tmp_path / "distiller.weights.h5")
    student_path = str(tmp_path / "best_student.keras")
    callbacks = [
        tf_keras.callbacks.ModelCheckpoint(weights_path, save_weights_only=True),
        tf_keras.callbacks.ModelCheckpoint(student_path, monitor="val_accuracy", save_best_only=True),
        tf_keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0),
        tf_keras.callbacks.TensorBoard(str(tmp_path / "logs")),
    ]
    history = distiller.fit(x[:128], y[:128], epochs=5, validation_data=(x_test, y_test),
                            callbacks=callbacks, verbose=0)
    assert len(history.history["loss"]) == 2  # stopped early
    restored = make_distiller(digits_teacher, seed=9)
    restored.fit(x[:32], y[:32], epochs=1, verbose=0)
    restored.load_weights(weights_path)
    np.testing.assert_array_equal(restored.predict(x_test, verbose=0), distiller.predict(x_test, verbose=0))
    assert tfkd.load_model(student_path).output_shape == (None, 10)
    assert any(name.startswith("events") for _, _, files in os.walk(tmp_path / "logs") for name in files)


class _Interrupt(tf_keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated interruption")


def test_backup_and_restore_resumes_after_an_interruption(tmp_path, digits, digits_teacher):
    (x, y), (x_test, _), _ = digits
    backup = tf_keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    interrupted = make_distiller(digits_teacher, seed=5)
    with pytest.raises(RuntimeError, match="simulated"):
        interrupted.fit(x[:128], y[:128], epochs=4, shuffle=False, callbacks=[backup, _Interrupt()], verbose=0)
    resumed = make_distiller(digits_teacher, seed=6)
    history = resumed.fit(x[:128], y[:128], epochs=4, shuffle=False, callbacks=[backup], verbose=0)
    assert len(history.history["loss"]) == 2  # epochs 3 and 4 only
    uninterrupted = make_distiller(digits_teacher, seed=5)
    uninterrupted.fit(x[:128], y[:128], epochs=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        resumed.predict(x_test, verbose=0), uninterrupted.predict(x_test, verbose=0), rtol=1e-4, atol=1e-4
    )


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, r"temperature=0.0 is invalid; expected a number > 0"),
        ({"temperature": -1}, r"temperature=-1"),
        ({"alpha": 1.5}, r"alpha=1.5 is invalid; expected a number in \[0.0, 1.0\]"),
        ({"alpha": -0.1}, r"alpha=-0.1"),
        ({"loss_weighting": "magic"}, r"loss_weighting='magic'"),
        ({"teacher_weights": [1, 2]}, r"teacher_weights=\[1, 2\] is invalid; expected 1"),
        ({"distillation_loss": None}, r"nothing to distil"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(digits_teacher, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=digits_teacher, **kwargs)


def test_student_without_trainable_weights_is_rejected(digits_teacher):
    student = tfkd.models.cnn_student((8, 8, 1), 10)
    student.trainable = False
    with pytest.raises(ValueError, match="no trainable weights"):
        tfkd.Distiller(student=student, teacher=digits_teacher)


def test_output_shapes_that_differ_name_both(digits, digits_teacher):
    (x, y), _, _ = digits
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 7), teacher=digits_teacher)
    distiller.compile(optimizer="adam", loss=sparse_ce())
    with pytest.raises(ValueError, match=r"outputs shape \(10,\) but student 'student' outputs shape \(7,\)"):
        distiller.fit(x[:32], y[:32] % 7, verbose=0)


def test_unknown_layer_names_list_the_available_ones(digits, digits_teacher):
    (x, y), _, _ = digits
    hint = tfkd.losses.FeatureHint([("features_4", "no_such_layer")])
    distiller = make_distiller(digits_teacher, feature_losses=[hint])
    with pytest.raises(ValueError, match=r"student has no layer named 'no_such_layer'; available layers: .*features_1"):
        distiller.fit(x[:32], y[:32], verbose=0)


def test_probability_teacher_declared_as_logits_is_detected(digits, digits_teacher):
    (x, y), _, _ = digits
    softmax_teacher = tf_keras.Sequential([digits_teacher, tf_keras.layers.Softmax()])
    distiller = make_distiller(softmax_teacher)
    with pytest.raises(ValueError, match="teacher 0 emits probabilities.*teacher_outputs='probs'"):
        distiller.fit(x[:32], y[:32], verbose=0)
    fixed = make_distiller(softmax_teacher, distillation_loss=tfkd.losses.SoftTarget(teacher_outputs="probs"))
    fixed.fit(x[:32], y[:32], verbose=0)


def test_nan_loss_stops_training_naming_epoch_and_step(digits, digits_teacher):
    (x, y), _, _ = digits
    weights = np.ones(64, dtype="float32")
    weights[40] = np.nan  # sample 41 is in the second batch of 32
    distiller = make_distiller(digits_teacher)
    with pytest.raises(FloatingPointError, match=r"became nan at epoch 1, step 2;"):
        distiller.fit(x[:64], y[:64], sample_weight=weights, batch_size=32, shuffle=False, epochs=2, verbose=0)
    # stopped inside the failing step, before its update
    assert all(np.isfinite(w).all() for w in distiller.student.get_weights())
    distiller.fit(x[:64], y[:64], epochs=1, verbose=0)  # and trains again afterwards


def test_nan_loss_under_xla_stops_at_the_end_of_the_epoch_naming_the_step(digits, digits_teacher):
    (x, y), _, _ = digits
    weights = np.ones(96, dtype="float32")
    weights[70] = np.inf  # third batch of 32
    tf_keras.utils.set_random_seed(0)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=digits_teacher)
    distiller.compile(optimizer=tf_keras.optimizers.Adam(1e-2), loss=sparse_ce(), jit_compile=True)
    with pytest.raises(FloatingPointError, match=r"became (nan|inf) at epoch 2, step 3;"):
        distiller.fit(x[:96], y[:96], sample_weight=weights, batch_size=32, shuffle=False, epochs=3,
                      initial_epoch=1, verbose=0)
