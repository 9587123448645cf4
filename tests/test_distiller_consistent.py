"""Consistent teaching, mixing and unlabelled data in the Distiller, recorded with probe models.

Probes are layers that store the last batch they saw in a variable, so they record
what reaches each model inside compiled training. Expected values are computed here
with NumPy from the probes' records and the models' own predictions.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfkd
from tfkd.distiller_data import LABELLED_KEY, split_batch

BATCH = 8
SHAPE = (8, 8, 1)
CLASSES = 3


class Probe(tf_keras.layers.Layer):
    """Passes its input through and keeps the last batch of BATCH samples it saw."""

    def build(self, input_shape):
        self.seen = self.add_weight("seen", shape=(BATCH, *input_shape[1:]), initializer="zeros", trainable=False)

    def call(self, inputs):
        if inputs.shape[0] == BATCH:
            self.seen.assign(inputs)
        return inputs


def probed_model(seed, name):
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input(SHAPE)
    probe = Probe(name="probe")
    outputs = tf_keras.layers.Dense(CLASSES, name="logits")(tf_keras.layers.Flatten()(probe(inputs)))
    return tf_keras.Model(inputs, outputs, name=name), probe


def data(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, *SHAPE), dtype=np.float32), rng.integers(0, CLASSES, count)


def distiller_with_probes(teachers=1, learning_rate=0.0, loss=None, **kwargs):
    teacher_models = [probed_model(10 + i, f"teacher_{i}") for i in range(teachers)]
    student, student_probe = probed_model(0, "student")
    distiller = tfkd.Distiller(student=student, teacher=[t for t, _ in teacher_models], **kwargs)
    distiller.compile(
        optimizer=tf_keras.optimizers.SGD(learning_rate),
        loss=loss or tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return distiller, [p for _, p in teacher_models], student_probe


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def soft_target(teacher_logits, student_logits, temperature):
    teacher_log_probs = log_softmax(teacher_logits / temperature)
    kl = np.sum(np.exp(teacher_log_probs) * (teacher_log_probs - log_softmax(student_logits / temperature)), -1)
    return kl * temperature**2


def cross_entropy(logits, labels):
    return -log_softmax(logits)[np.arange(len(labels)), labels]


def test_every_teacher_and_the_student_see_the_same_augmented_batch(tmp_path):
    x, y = data(BATCH)
    augment = tfkd.augment.images(translate=0.25, rotate=30, seed=0)
    distiller, teacher_probes, student_probe = distiller_with_probes(teachers=2, augment=augment)
    distiller.fit(x, y, batch_size=BATCH, shuffle=False, epochs=1, verbose=0)
    seen = student_probe.seen.numpy()
    assert not np.allclose(seen, x)  # augmented ...
    for probe in teacher_probes:  # ... once, for all
        np.testing.assert_array_equal(probe.seen.numpy(), seen)


def test_validation_evaluation_and_prediction_never_augment():
    x, y = data(BATCH)
    x_val, y_val = data(BATCH, seed=1)
    augment = tfkd.augment.images(translate=0.25, seed=0)
    distiller, (teacher_probe,), student_probe = distiller_with_probes(augment=augment, mixup=1.0)
    distiller.fit(x, y, batch_size=BATCH, epochs=1, validation_data=(x_val, y_val), verbose=0)
    np.testing.assert_array_equal(teacher_probe.seen.numpy(), x_val)  # validation ran last
    np.testing.assert_array_equal(student_probe.seen.numpy(), x_val)
    distiller.evaluate(x, y, batch_size=BATCH, verbose=0)
    np.testing.assert_array_equal(teacher_probe.seen.numpy(), x)
    distiller.predict(x_val, batch_size=BATCH, verbose=0)
    np.testing.assert_array_equal(student_probe.seen.numpy(), x_val)


def recover_mixing(mixed, x):
    """(lam, partner of each row) such that row i = lam * x[i] + (1 - lam) * x[partner[i]]; lam None if x[i]."""
    flat_x = x.reshape(len(x), -1)
    lams, partners = [], []
    for i, row in enumerate(mixed.reshape(len(mixed), -1)):
        if np.allclose(row, flat_x[i], atol=1e-6):  # mixed with itself
            lams.append(None)
            partners.append(i)
            continue
        fits = []
        for j, other in enumerate(flat_x):
            difference = flat_x[i] - other
            if j == i or not difference.any():
                continue
            lam = float(np.dot(row - other, difference) / np.dot(difference, difference))
            fits.append((np.abs(lam * flat_x[i] + (1 - lam) * other - row).max(), lam, j))
        residual, lam, j = min(fits)
        assert residual < 1e-5, (i, residual)
        lams.append(lam)
        partners.append(j)
    return lams, np.array(partners)


@pytest.mark.parametrize("one_hot", [False, True])
def test_mixup_targets_are_the_teachers_outputs_on_the_mixed_inputs(one_hot):
    x, y = data(BATCH)
    tf.random.set_seed(7)
    loss = tf_keras.losses.CategoricalCrossentropy(from_logits=True) if one_hot else None
    labels = np.eye(CLASSES, dtype=np.float32)[y] if one_hot else y
    distiller, (teacher_probe,), student_probe = distiller_with_probes(mixup=1.0, loss=loss, temperature=2.0)
    history = distiller.fit(x, labels, batch_size=BATCH, shuffle=False, epochs=1, verbose=0)
    mixed = teacher_probe.seen.numpy()
    np.testing.assert_array_equal(student_probe.seen.numpy(), mixed)
    lams, partner = recover_mixing(mixed, x)
    assert sorted(partner) == list(range(BATCH))  # a permutation of the batch
    lams = [value for value in lams if value is not None]
    lam = lams[0]
    assert 0.5 <= lam <= 1.0 and np.allclose(lams, lam, atol=1e-5)  # one lam per batch

    teacher_logits = distiller.teacher.predict(mixed, verbose=0)
    student_logits = distiller.student.predict(mixed, verbose=0)  # unchanged: learning rate 0
    expected_distillation = soft_target(teacher_logits, student_logits, 2.0).mean()
    assert history.history["distillation_loss"][0] == pytest.approx(expected_distillation, rel=1e-4)
    # hard term: lam * loss(y_a) + (1 - lam) * loss(y_b)
    expected_hard = (lam * cross_entropy(student_logits, y) + (1 - lam) * cross_entropy(student_logits, y[partner]))
    assert history.history["student_loss"][0] == pytest.approx(expected_hard.mean(), rel=1e-4)


def test_cutmix_reaches_teacher_and_student_alike():
    x, y = data(BATCH)
    distiller, (teacher_probe,), student_probe = distiller_with_probes(cutmix=1.0, mixup=0.5)
    distiller.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    np.testing.assert_array_equal(teacher_probe.seen.numpy(), student_probe.seen.numpy())


def test_hard_loss_is_zero_for_a_batch_of_only_unlabelled_samples():
    x, y = data(BATCH)
    distiller, _, _ = distiller_with_probes(learning_rate=0.1)
    distiller.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # builds the train step's state
    distiller.reset_metrics()
    batch = ({"inputs": tf.constant(x), LABELLED_KEY: tf.zeros([BATCH])}, tf.constant(y))
    logs = distiller.train_step(batch)
    assert float(logs["student_loss"]) == 0.0
    assert float(logs["distillation_loss"]) > 0.0
    assert float(logs["accuracy"]) == 0.0  # no labelled sample counted


def test_labelled_and_unlabelled_in_one_fit():
    """64 labelled + 192 unlabelled, batch 32: 8 + 24 per batch, 8 steps see each sample once."""
    x, y = data(64)
    unlabelled, _ = data(192, seed=2)
    distiller, _, _ = distiller_with_probes()
    steps = []
    counter = tf_keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    history = distiller.fit(x, y, unlabelled=unlabelled, batch_size=32, epochs=1, callbacks=[counter], verbose=0)
    assert len(steps) == 8
    student_logits = distiller.student.predict(x, verbose=0)
    teacher_all = distiller.teacher.predict(np.concatenate([x, unlabelled]), verbose=0)
    student_all = distiller.student.predict(np.concatenate([x, unlabelled]), verbose=0)
    # label terms over the labelled samples only, distillation over all of them
    assert history.history["student_loss"][0] == pytest.approx(cross_entropy(student_logits, y).mean(), rel=1e-4)
    assert history.history["accuracy"][0] == pytest.approx(np.mean(student_logits.argmax(-1) == y), abs=1e-6)
    expected_distillation = soft_target(teacher_all, student_all, 4.0).mean()
    assert history.history["distillation_loss"][0] == pytest.approx(expected_distillation, rel=1e-4)


def test_unlabelled_datasets_and_a_set_ratio():
    x, y = data(48)
    unlabelled, _ = data(40, seed=3)
    labelled = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    distiller, _, _ = distiller_with_probes(learning_rate=0.1)
    steps = []
    counter = tf_keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    history = distiller.fit(labelled, unlabelled=tf.data.Dataset.from_tensor_slices(unlabelled).batch(10),
                            unlabelled_ratio=1.0, epochs=2, callbacks=[counter], verbose=0)
    # batch 16 from the dataset, 8 + 8: 48 / 8 = 6 steps cover the labelled set, 40 / 8 = 5 the unlabelled
    assert len(steps) == 12
    assert np.isfinite(history.history["loss"]).all()
    assert split_batch(32, 150, 1200, None) == (4, 28)
    assert split_batch(32, 10, 10, 3.0) == (8, 24)
    assert split_batch(2, 1, 10_000, None) == (1, 1)


def test_augmentation_with_feature_terms_several_teachers_and_unlabelled_data(digits):
    (x, y), _, _ = digits
    tf_keras.utils.set_random_seed(0)
    teachers = [tfkd.models.cnn_teacher((8, 8, 1), 10, width=4), tfkd.models.cnn_teacher((8, 8, 1), 10, width=4)]
    hint = tfkd.losses.FeatureHint([("features_2", "features_2")])
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=teachers,
                               feature_losses=[hint], augment=tfkd.augment.images(translate=0.1, seed=0),
                               mixup=0.2, cutmix=0.2)
    distiller.compile(optimizer="adam", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    history = distiller.fit(x[:64], y[:64], unlabelled=x[64:192], batch_size=32, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "feature_hint_loss" in history.history


# -- errors ------------------------------------------------------------------------


def make(**kwargs):
    student, _ = probed_model(0, "student")
    teacher, _ = probed_model(1, "teacher")
    return tfkd.Distiller(student=student, teacher=teacher, **kwargs)


@pytest.mark.parametrize("transform", [
    {"augment": tfkd.augment.images(translate=0.1)}, {"mixup": 0.2}, {"cutmix": 1.0},
])
def test_cached_teacher_outputs_with_transformed_inputs_are_rejected(transform):
    with pytest.raises(ValueError, match="cache_teacher=True cannot be combined with augment, mixup or cutmix"):
        make(cache_teacher=True, **transform)
    with pytest.raises(ValueError, match="cache_teacher='disk' cannot be combined"):
        make(cache_teacher="disk", **transform)


@pytest.mark.parametrize("kwargs, message", [
    ({"mixup": -0.5}, r"mixup=-0.5 is invalid; expected a number >= 0"),
    ({"cutmix": "yes"}, r"cutmix='yes' is invalid; expected a finite number"),
    ({"augment": "strong"}, r"augment='strong' is invalid; expected a tf_keras layer"),
    ({"loss_weighting": "uncertainty", "alpha": 0.5}, r"alpha=0.5 has no effect with loss_weighting='uncertainty'"),
])
def test_bad_consistency_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def compiled(distiller):
    distiller.compile(optimizer="sgd", loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return distiller


def tabular_distiller(**kwargs):
    tf_keras.utils.set_random_seed(0)
    student = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(CLASSES)])
    teacher = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(CLASSES)])
    return compiled(tfkd.Distiller(student=student, teacher=teacher, **kwargs))


def test_image_transforms_on_tabular_inputs_are_rejected_and_mixup_works():
    x, y = np.random.default_rng(0).random((16, 4), dtype=np.float32), np.arange(16) % CLASSES
    with pytest.raises(ValueError, match=r"rank 4 .* got inputs of shape \(16, 4\)"):
        tabular_distiller(augment=tfkd.augment.images(rotate=10)).fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"cutmix=1.0 needs a batch of images of rank 4"):
        tabular_distiller(cutmix=1.0).fit(x, y, verbose=0)
    history = tabular_distiller(mixup=0.4).fit(x, y, unlabelled=x[:8], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_unlabelled_inputs_unlike_x_are_rejected():
    x, y = data(16)
    distiller = compiled(make())
    with pytest.raises(ValueError, match=r"unlabelled inputs have shape \(8, 8, 3\) and dtype float32 per sample "
                                         r"but x has shape \(8, 8, 1\)"):
        distiller.fit(x, y, unlabelled=np.zeros((4, 8, 8, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"dtype float64 per sample but x has shape \(8, 8, 1\) and dtype float32"):
        distiller.fit(x, y, unlabelled=np.zeros((4, 8, 8, 1)), verbose=0)
    labelled = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with pytest.raises(ValueError, match=r"unlabelled inputs have shape \(64,\)"):
        distiller.fit(labelled, unlabelled=tf.data.Dataset.from_tensor_slices(np.zeros((4, 64), np.float32)).batch(2))
    with pytest.raises(ValueError, match=r"needs labels y for x"):
        distiller.fit(x, unlabelled=x, verbose=0)
    with pytest.raises(ValueError, match=r"unlabelled_ratio=0 is invalid; expected a number > 0"):
        distiller.fit(x, y, unlabelled=x, unlabelled_ratio=0, verbose=0)
    with pytest.raises(ValueError, match=r"unlabelled_ratio=2 needs unlabelled inputs"):
        distiller.fit(x, y, unlabelled_ratio=2, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split=0.2 cannot be used with unlabelled data"):
        distiller.fit(x, y, unlabelled=x, validation_split=0.2, verbose=0)


def test_uncertainty_weighting_rejects_alpha_schedules():
    x, y = data(16)
    distiller = compiled(make(loss_weighting="uncertainty"))
    schedule = tfkd.callbacks.LinearSchedule("alpha", 0.1, 0.5, epochs=2)
    with pytest.raises(ValueError, match=r"LinearSchedule\('alpha'\) has no effect with loss_weighting='uncertainty'"):
        distiller.fit(x, y, epochs=1, callbacks=[schedule], verbose=0)
    with pytest.raises(ValueError, match=r"OnPlateau\('alpha'\) has no effect"):
        distiller.fit(x, y, epochs=1, callbacks=[tfkd.callbacks.OnPlateau("alpha", monitor="loss")], verbose=0)
    history = distiller.fit(x, y, epochs=1, callbacks=[tfkd.callbacks.LinearSchedule("temperature", 4, 2, 2)],
                            verbose=0)
    assert "alpha" not in history.history and history.history["temperature"] == [4.0]


def test_cached_teacher_outputs_with_unlabelled_data_train_like_the_online_teacher():
    x, y = data(32)
    unlabelled, _ = data(32, seed=4)
    predictions = []
    for cache_teacher in (False, True):
        distiller, _, _ = distiller_with_probes(learning_rate=0.1, cache_teacher=cache_teacher)
        distiller.fit(x, y, unlabelled=unlabelled, batch_size=16, shuffle=False, epochs=2, verbose=0)
        predictions.append(distiller.predict(x, verbose=0))
    np.testing.assert_allclose(predictions[1], predictions[0], rtol=1e-5, atol=1e-5)
