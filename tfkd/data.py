"""Datasets as the pipeline trains and tests on them.

``load(name)`` returns ``(x_train, y_train), (x_test, y_test), class_names``: float32
inputs (images channel-last, scaled to [0, 1]), int64 labels, and a list of class
names. ``digits`` is embedded in scikit-learn and needs no download.

Example:

>>> import tfkd
>>> (x_train, y_train), (x_test, y_test), class_names = tfkd.data.load("digits")
>>> x_train.shape[1:], len(class_names)
((8, 8, 1), 10)
"""

import gzip
import os
import struct

import numpy as np

TEST_FRACTION = 0.25
SPLIT_SEED = 0
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def load(name="digits", data_dir=None):
    """Loads ``name``: "digits", "mnist", "iris", a ``.npz`` path or an image folder."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"dataset name must be a string or path, got {type(name).__name__}")
    name = os.fspath(name)
    if name == "digits":
        return _digits()
    if name == "iris":
        return _iris()
    if name == "mnist":
        return _mnist(data_dir)
    if name.endswith(".npz"):
        return _npz(name)
    if os.path.isdir(name):
        return _image_folder(name)
    raise ValueError(
        f"unknown dataset {name!r}; expected 'digits', 'mnist', 'iris', a path to an .npz file "
        "or a folder with one sub-folder of images per class"
    )


def _split(x, y):
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)


def _digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    y = bunch.target.astype("int64")
    return (*_split(x, y), [str(c) for c in bunch.target_names])


def _iris():
    from sklearn.datasets import load_iris

    bunch = load_iris()
    (x_train, y_train), (x_test, y_test) = _split(bunch.data.astype("float32"), bunch.target.astype("int64"))
    low, high = x_train.min(axis=0), x_train.max(axis=0)
    scale = np.where(high > low, high - low, 1.0)
    x_train = ((x_train - low) / scale).astype("float32")
    x_test = np.clip((x_test - low) / scale, 0.0, 1.0).astype("float32")
    return (x_train, y_train), (x_test, y_test), [str(c) for c in bunch.target_names]


def read_idx(path):
    """Reads an IDX file (raw or ``.gz``) into a uint8 array, checking magic number and size."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path!r}: {e}") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(
            f"{path!r} is not an unsigned-byte IDX file: magic bytes {data[:4].hex() or '(empty)'}, "
            "expected 000008 followed by the number of dimensions"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path!r} is truncated: {len(data)} bytes, the header alone needs {header}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape)) if shape else 0
    if len(data) - header != expected:
        raise ValueError(
            f"{path!r} holds {len(data) - header} data bytes but its header declares shape {shape} "
            f"({expected} bytes)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(data_dir, stem):
    for candidate in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"MNIST file {stem}[.gz] not found in data_dir {data_dir!r}")


def _mnist(data_dir):
    if data_dir is None:
        import tf_keras

        try:
            (x_train, y_train), (x_test, y_test) = tf_keras.datasets.mnist.load_data()
        except Exception as e:  # tf_keras raises a bare Exception when the download fails
            from tfkd.errors import InputError

            raise InputError(
                "cannot download MNIST (offline?); put its four IDX files in a folder and pass data_dir= "
                "(--data_dir on the command line)"
            ) from e
    else:
        if not os.path.isdir(data_dir):
            raise FileNotFoundError(f"data_dir {data_dir!r} is not a directory holding the MNIST IDX files")
        arrays = {key: read_idx(_find_idx(data_dir, stem)) for key, stem in _IDX_FILES.items()}
        for split in ("train", "test"):
            images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise ValueError(
                    f"MNIST {split} split disagrees: images of shape {images.shape}, labels of shape "
                    f"{labels.shape}; expected (N, 28, 28) and (N,)"
                )
        x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    scale = lambda images: (images.astype("float32") / 255.0)[..., None]  # noqa: E731
    return (
        (scale(x_train), y_train.astype("int64")),
        (scale(x_test), y_test.astype("int64")),
        [str(d) for d in range(10)],
    )


def _npz(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dataset file {path!r} does not exist")
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path!r} lacks arrays {missing}; expected x_train, y_train, x_test, y_test "
                f"(found {sorted(archive.files)})"
            )
        arrays = {k: archive[k] for k in archive.files}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise ValueError(
                f"{path!r}: x_{split} has {len(arrays[f'x_{split}'])} samples but y_{split} has "
                f"{len(arrays[f'y_{split}'])}"
            )
    y_all = np.concatenate([arrays["y_train"], arrays["y_test"]]).astype("int64")
    if "class_names" in arrays:
        class_names = [str(c) for c in arrays["class_names"]]
    else:
        class_names = [str(c) for c in range(int(y_all.max()) + 1)]
    return (
        (arrays["x_train"].astype("float32"), arrays["y_train"].astype("int64")),
        (arrays["x_test"].astype("float32"), arrays["y_test"].astype("int64")),
        class_names,
    )


def _image_folder(root):
    import tensorflow as tf

    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if len(class_names) < 2:
        raise ValueError(f"image folder {root!r} has {len(class_names)} class sub-folders; expected at least 2")
    images, labels, shape = [], [], None
    for label, class_name in enumerate(class_names):
        folder = os.path.join(root, class_name)
        for file_name in sorted(os.listdir(folder)):
            if not file_name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(folder, file_name)
            try:
                image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()
            except tf.errors.InvalidArgumentError as e:
                raise ValueError(f"cannot decode image {path!r}: {e.message}") from e
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise ValueError(f"image {path!r} has shape {image.shape}; the first image had {shape}")
            images.append(image)
            labels.append(label)
    if not images:
        raise ValueError(f"image folder {root!r} contains no {'/'.join(IMAGE_EXTENSIONS)} files")
    x = (np.stack(images).astype("float32") / 255.0)
    y = np.asarray(labels, dtype="int64")
    return (*_split(x, y), class_names)
