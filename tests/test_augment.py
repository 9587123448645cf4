"""tfkd.augment: the image layer is active only in training; mixing keeps to its definition."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfkd


def images_batch(count=6, seed=0):
    return np.random.default_rng(seed).random((count, 8, 8, 1), dtype=np.float32)


def test_images_change_batches_only_in_training():
    batch = images_batch()
    layer = tfkd.augment.images(translate=0.2, rotate=20, zoom=0.1, contrast=0.2, flip=True, seed=1)
    np.testing.assert_array_equal(layer(batch, training=False), batch)
    np.testing.assert_array_equal(layer(batch), batch)
    augmented = layer(batch, training=True).numpy()
    assert augmented.shape == batch.shape and augmented.dtype == np.float32
    assert not np.allclose(augmented, batch)
    same_seed = tfkd.augment.images(translate=0.2, rotate=20, zoom=0.1, contrast=0.2, flip=True, seed=1)
    np.testing.assert_allclose(same_seed(batch, training=True), augmented, atol=1e-6)


def test_images_in_front_of_a_plain_model_augment_fit_but_not_predict():
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.Input((8, 8, 1)),
        tfkd.augment.images(translate=0.25, seed=0),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(3),
    ])
    batch = images_batch()
    np.testing.assert_array_equal(model.predict(batch, verbose=0), model.predict(batch, verbose=0))
    assert not np.allclose(model(batch, training=True), model(batch, training=False))
    model.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(batch, np.arange(6) % 3, epochs=1, verbose=0)


def test_all_zero_strengths_change_nothing():
    batch = images_batch()
    np.testing.assert_array_equal(tfkd.augment.images()(batch, training=True), batch)


def test_images_reject_inputs_that_are_not_image_batches():
    layer = tfkd.augment.images(translate=0.1)
    with pytest.raises(ValueError, match=r"rank 4 .* got inputs of shape \(6, 64\)"):
        layer(np.zeros((6, 64), np.float32), training=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"translate": 1.0}, r"translate=1.0 is invalid; expected a number in \[0, 1\)"),
        ({"rotate": -5}, r"rotate=-5 is invalid; expected a number in \[0, 180\]"),
        ({"zoom": "big"}, r"zoom='big' is invalid; expected a finite number"),
        ({"contrast": float("nan")}, r"contrast=nan is invalid"),
        ({"flip": "yes"}, r"flip='yes' is invalid; expected True or False"),
        ({"seed": 1.5}, r"seed=1.5 is invalid; expected an integer or None"),
        ({"fill_mode": "mirror"}, r"fill_mode='mirror' is invalid"),
    ],
)
def test_images_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfkd.augment.images(**kwargs)


def test_mixup_is_a_convex_combination_with_a_permutation_of_the_batch():
    tf.random.set_seed(3)
    batch = images_batch(count=5)
    mixed, lam, permutation = tfkd.augment.mix(tf.constant(batch), mixup=0.4)
    lam, permutation = float(lam), permutation.numpy()
    assert 0.5 <= lam <= 1.0
    assert sorted(permutation) == list(range(5))
    np.testing.assert_allclose(mixed, lam * batch + (1 - lam) * batch[permutation], atol=1e-6)


def test_cutmix_pastes_one_box_and_lam_is_the_kept_fraction():
    tf.random.set_seed(4)
    batch = images_batch(count=4)
    for _ in range(5):
        mixed, lam, permutation = tfkd.augment.mix(tf.constant(batch), cutmix=1.0)
        mixed, lam, shuffled = mixed.numpy(), float(lam), batch[permutation.numpy()]
        from_other = np.all(mixed == shuffled, axis=(0, 3)) & ~np.all(mixed == batch, axis=(0, 3))
        assert np.all((mixed == batch) | (mixed == shuffled))
        rows, cols = np.nonzero(from_other)
        if rows.size:  # the pasted pixels form one rectangle
            assert from_other[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert lam == pytest.approx(1.0 - from_other.mean(), abs=1e-6)
        assert lam >= 0.5
