"""Teacher outputs cached on disk: sharded TFRecord files, streamed back, fingerprinted, rebuilt when stale."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfkd
from conftest import sparse_ce
from tfkd import teacher_cache
from tfkd.distiller_data import CACHE_KEY


@pytest.fixture(scope="module")
def small(digits):
    (x, y), _, _ = digits
    return x[:600], y[:600]


def make_distiller(teachers, seed=0):
    tf_keras.utils.set_random_seed(seed)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student(), teacher=teachers)
    distiller.compile(tf_keras.optimizers.SGD(0.05), sparse_ce())
    return distiller


def untrained_teacher(seed, width=4):
    tf_keras.utils.set_random_seed(seed)
    return tfkd.models.cnn_teacher(width=width, name=f"teacher_{seed}")


def cache_of(distiller, x, y, directory, strict=False, **fit_kwargs):
    cache = teacher_cache.DiskCache(directory, strict=strict, shards=3)
    dataset, _, _ = teacher_cache.disk_output_cache(distiller, cache, x, y, 64, dict(fit_kwargs))
    return dataset


def read_back(dataset):
    inputs, outputs, labels = [], [], []
    for element, label in dataset:
        inputs.append(element["inputs"].numpy())
        outputs.append([t.numpy() for t in element[CACHE_KEY]["outputs"]])
        labels.append(label.numpy())
    return np.concatenate(inputs), [np.concatenate(o) for o in zip(*outputs)], np.concatenate(labels)


def test_outputs_written_to_shards_and_streamed_back(small, tmp_path):
    x, y = small
    teachers = [untrained_teacher(1), untrained_teacher(2, width=8)]
    dataset = cache_of(make_distiller(teachers), x, y, tmp_path / "cache", shuffle=False)
    assert os.listdir(tmp_path / "cache") == ["labelled"]
    files = sorted(os.listdir(tmp_path / "cache" / "labelled"))
    assert files == ["fingerprint.json", "shard-00000.tfrecord", "shard-00001.tfrecord", "shard-00002.tfrecord"]
    inputs, outputs, labels = read_back(dataset)
    np.testing.assert_array_equal(inputs, x)
    np.testing.assert_array_equal(labels, y)
    for teacher, cached in zip(teachers, outputs):
        np.testing.assert_allclose(cached, teacher.predict(x, verbose=0), atol=1e-5)


def test_shuffled_every_epoch_without_losing_a_sample(small, tmp_path):
    x, y = small
    dataset = cache_of(make_distiller([untrained_teacher(1)]), x, y, tmp_path / "cache")
    first, second = read_back(dataset)[2], read_back(dataset)[2]
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first), np.sort(y))


def test_distiller_trains_from_the_disk_cache_like_from_memory(small, tmp_path):
    x, y = small
    teacher = untrained_teacher(1)
    results = []
    for option in (True, str(tmp_path / "cache")):
        distiller = make_distiller([teacher])
        distiller.cache_teacher = option
        history = distiller.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], distiller.student.get_weights()))
    (memory_loss, memory_weights), (disk_loss, disk_weights) = results
    np.testing.assert_allclose(disk_loss, memory_loss, rtol=1e-5)
    for a, b in zip(memory_weights, disk_weights):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_dataset_batches_come_back_in_their_first_order(small, tmp_path):
    x, y = small
    source = tf.data.Dataset.from_tensor_slices((x, y)).batch(50)
    dataset = cache_of(make_distiller([untrained_teacher(1)]), source, None, tmp_path / "cache")
    batches = [element[1].numpy() for element in dataset]
    assert [len(b) for b in batches] == [50] * 12
    np.testing.assert_array_equal(np.concatenate(batches), y)


def test_other_teacher_or_data_rebuilds_and_strict_mode_refuses(small, tmp_path, caplog):
    x, y = small
    cache_of(make_distiller([untrained_teacher(1)]), x, y, tmp_path / "cache")
    directory = tmp_path / "cache" / "labelled"
    stamp = (directory / "fingerprint.json").read_text()

    cache_of(make_distiller([untrained_teacher(1)]), x, y, tmp_path / "cache")  # same teacher and data: reused
    assert (directory / "fingerprint.json").read_text() == stamp

    other_teacher = make_distiller([untrained_teacher(7)])
    with pytest.raises(teacher_cache.CacheMismatchError, match="made from other data or another teacher"):
        cache_of(other_teacher, x, y, tmp_path / "cache", strict=True)
    assert (directory / "fingerprint.json").read_text() == stamp  # strict mode changes nothing

    with caplog.at_level(logging.WARNING, logger="tfkd"):
        dataset = cache_of(other_teacher, x, y, tmp_path / "cache", shuffle=False)
    assert "rebuilding" in caplog.text
    assert (directory / "fingerprint.json").read_text() != stamp
    np.testing.assert_allclose(read_back(dataset)[1][0], other_teacher.teacher.predict(x, verbose=0), atol=1e-5)

    stamp = (directory / "fingerprint.json").read_text()
    changed = x.copy()
    changed[0, 0, 0, 0] += 0.5  # one pixel of one sample
    with pytest.raises(teacher_cache.CacheMismatchError):
        cache_of(other_teacher, changed, y, tmp_path / "cache", strict=True)


def test_unusable_cache_directories_get_one_clear_error(small, tmp_path):
    x, y = small
    distiller = make_distiller([untrained_teacher(1)])
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="not writable"):
        cache_of(distiller, x, y, blocker / "cache")
    user_folder = tmp_path / "photos" / "labelled"
    user_folder.mkdir(parents=True)
    (user_folder / "cat.jpg").write_text("")
    with pytest.raises(ValueError, match="not a tfkd cache"):
        cache_of(distiller, x, y, tmp_path / "photos")
    assert (user_folder / "cat.jpg").exists()
    with pytest.raises(ValueError, match="cache_teacher=3 is invalid"):
        teacher_cache.from_option(3)


def test_data_that_change_between_passes_are_reported(small, tmp_path, caplog):
    x, y = small
    # Reshuffled on every pass, like random augmentation: each pass yields other batches.
    changing = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=1).batch(100)
    with caplog.at_level(logging.WARNING, logger="tfkd"):
        cache_of(make_distiller([untrained_teacher(1)]), changing, None, tmp_path / "cache")
    assert "differed between two passes" in caplog.text
