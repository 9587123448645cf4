"""tfkd.data.load: every source, and clear errors for missing or corrupt files."""

import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

import tfkd


def test_digits_is_model_ready():
    (x_train, y_train), (x_test, y_test), names = tfkd.data.load("digits")
    assert x_train.shape == (1347, 8, 8, 1) and x_test.shape == (450, 8, 8, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() == 1.0
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))
    assert names == [str(d) for d in range(10)]
    again = tfkd.data.load("digits")
    np.testing.assert_array_equal(again[0][0], x_train)


def test_iris_is_scaled_to_unit_range():
    (x_train, y_train), (x_test, _), names = tfkd.data.load("iris")
    assert x_train.shape[1] == 4 and x_train.min() == 0.0 and x_train.max() == 1.0
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0
    assert names == ["setosa", "versicolor", "virginica"]


def test_npz(tmp_path):
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.random((10, 3)), y_train=np.arange(10) % 2, x_test=rng.random((4, 3)),
             y_test=np.array([0, 1, 1, 0]), class_names=np.array(["cat", "dog"]))
    (x_train, y_train), (x_test, y_test), names = tfkd.data.load(str(path))
    assert x_train.dtype == np.float32 and x_train.shape == (10, 3) and y_test.tolist() == [0, 1, 1, 0]
    assert names == ["cat", "dog"]
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"lacks arrays \['y_train', 'x_test', 'y_test'\]"):
        tfkd.data.load(str(tmp_path / "bad.npz"))


def write_idx(path, array, compress=False, magic_type=0x08):
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def make_mnist(folder, compress=True, train=6, test=4):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (train, 28, 28)), compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", np.arange(train) % 10, compress)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (test, 28, 28)), compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", np.arange(test) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_from_idx_files(tmp_path, compress):
    make_mnist(tmp_path, compress)
    (x_train, y_train), (x_test, y_test), names = tfkd.data.load("mnist", data_dir=str(tmp_path))
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (4, 28, 28, 1)
    assert x_train.max() <= 1.0 and y_train.tolist() == [0, 1, 2, 3, 4, 5]
    assert len(names) == 10


def test_mnist_bad_magic_number(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((6, 28, 28)), compress=True, magic_type=0x0D)
    with pytest.raises(ValueError, match=r"not an unsigned-byte IDX file: magic bytes 00000d03"):
        tfkd.data.load("mnist", data_dir=str(tmp_path))


def test_mnist_counts_that_disagree(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5), compress=True)
    with pytest.raises(ValueError, match=r"train split disagrees: images of shape \(6, 28, 28\), labels of shape \(5,\)"):
        tfkd.data.load("mnist", data_dir=str(tmp_path))


def test_mnist_truncated_and_missing_files(tmp_path):
    make_mnist(tmp_path, compress=False)
    data = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(data[:-10])
    with pytest.raises(ValueError, match=r"holds 3126 data bytes but its header declares shape \(4, 28, 28\)"):
        tfkd.data.load("mnist", data_dir=str(tmp_path))
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        tfkd.data.load("mnist", data_dir=str(tmp_path))


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for class_name in ("circle", "square"):
        (tmp_path / class_name).mkdir()
        for i in range(4):
            image = rng.integers(0, 256, (6, 5, 1), dtype=np.uint8)
            (tmp_path / class_name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    (x_train, y_train), (x_test, _), names = tfkd.data.load(str(tmp_path))
    assert names == ["circle", "square"]
    assert x_train.shape == (6, 6, 5, 1) and x_test.shape == (2, 6, 5, 1)
    assert x_train.dtype == np.float32 and x_train.max() <= 1.0
    (tmp_path / "square" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot decode image"):
        tfkd.data.load(str(tmp_path))


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'; expected 'digits', 'mnist', 'iris'"):
        tfkd.data.load("cifar")
