"""Teacher outputs cached on disk: written once as sharded TFRecord files, streamed back every epoch.

``Distiller(cache_teacher=True)`` keeps every teacher output in memory, which a dataset
larger than RAM cannot afford. ``cache_teacher="disk"``, a directory path, or a
``DiskCache(path, strict=True)`` instead runs the teachers once over the training data,
writes inputs, labels and teacher outputs in chunks to ``shard-*.tfrecord`` files and
streams them back with ``tf.data`` during training, so memory stays flat however many
samples there are.

A cache is only valid for the data and the teachers it was made from. Its directory
holds ``fingerprint.json``: a SHA-256 over every teacher's weights (or SavedModel
files), the teacher weights of the ensemble, the feature layers read, and every input
and label. A cache whose fingerprint differs is rebuilt (a warning says so), or with
``strict=True`` refused with a ``ValueError``; it is never silently reused. Random
augmentation in a ``tf.data`` pipeline makes every pass different, so such a cache is
rebuilt every time: cache the data before augmenting it, or not at all.

Writes are atomic: the shards go to a temporary directory beside the target, renamed
into place when complete, so a killed run leaves either the old cache or the new one.

Example:

>>> import tempfile, tfkd, tf_keras
>>> (x, y), _, _ = tfkd.data.load("digits")
>>> distiller = tfkd.Distiller(student=tfkd.models.cnn_student(), teacher=tfkd.models.cnn_teacher(width=4),
...                            cache_teacher=tempfile.mkdtemp())
>>> distiller.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
>>> history = distiller.fit(x[:256], y[:256], epochs=1, verbose=0)
"""

import hashlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from tfkd.distiller_data import CACHE_BATCH_SIZE, CACHE_KEY

FORMAT_VERSION = 1
FINGERPRINT_FILE = "fingerprint.json"
DEFAULT_SHARDS = 8
# Bounded so that memory stays flat; datasets smaller than this are shuffled fully, like Keras does.
SHUFFLE_BUFFER = 10_000
DEFAULT_ROOT_ENV = "TFKD_CACHE_DIR"

logger = logging.getLogger("tfkd")


class CacheMismatchError(ValueError):
    """A cache on disk was made from other data or another teacher, and strict mode forbids rebuilding it."""


class DiskCache:
    """Where and how to cache teacher outputs on disk.

    Args:
        directory: the cache directory, or None for ``$TFKD_CACHE_DIR`` (else
            ``~/.cache/tfkd``) ``/teacher_outputs/<fingerprint>``.
        strict: raise ``CacheMismatchError`` instead of rebuilding a cache made for other
            data or another teacher.
        shards: number of TFRecord files (several let workers read different files).
    """

    def __init__(self, directory=None, strict=False, shards=DEFAULT_SHARDS):
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise ValueError(f"directory={directory!r} is invalid; expected a path or None")
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ValueError(f"shards={shards!r} is invalid; expected an integer >= 1")
        self.directory = None if directory is None else os.fspath(directory)
        self.strict = bool(strict)
        self.shards = shards

    def __repr__(self):
        return f"DiskCache({self.directory!r}, strict={self.strict})"


def from_option(cache_teacher):
    """The ``DiskCache`` a ``Distiller(cache_teacher=...)`` value asks for, or None (memory or no cache)."""
    if isinstance(cache_teacher, DiskCache):
        return cache_teacher
    if cache_teacher == "disk":
        return DiskCache()
    if isinstance(cache_teacher, os.PathLike) or (isinstance(cache_teacher, str) and cache_teacher):
        return DiskCache(cache_teacher)
    if cache_teacher in (None, True, False):
        return None
    raise ValueError(f"cache_teacher={cache_teacher!r} is invalid; expected False, True (memory), "
                     "'disk', a directory path or tfkd.teacher_cache.DiskCache(...)")


def disk_output_cache(distiller, cache, x, y, batch_size, fit_kwargs):
    """Like ``distiller_data.teacher_output_cache`` but through files: returns ``(dataset, None, None)``.

    The files go to ``<cache directory>/labelled`` (inputs with labels) or ``/unlabelled``.

    The dataset yields ``({"inputs": x, CACHE_KEY: teacher outputs}, y)`` batches (``x``
    batches alone without labels). Arrays come back reshuffled every epoch (unless
    ``shuffle=False``) in batches of ``batch_size``; a dataset's batches come back in the
    order of its first pass.
    """
    from_dataset = isinstance(x, tf.data.Dataset)
    if not from_dataset and not _is_arrays(x):
        raise ValueError(f"cache_teacher={cache!r} needs NumPy arrays or a tf.data.Dataset, got "
                         f"{type(x).__name__}")
    batches = x if from_dataset else _array_batches(x, y)
    names = distiller._teacher_feature_names()
    fingerprint = compute_fingerprint(distiller, names, batches)
    # Labelled training data and unlabelled transfer data of one fit get caches side by side.
    labelled = (y is not None) if not from_dataset else (isinstance(x.element_spec, tuple) and len(x.element_spec) > 1)
    part = "labelled" if labelled else "unlabelled"
    directory = os.path.join(cache.directory or os.path.join(_default_root(), fingerprint[:32]), part)
    manifest = _valid_manifest(directory, fingerprint, cache.strict)
    if manifest is None:
        manifest = _write(directory, distiller, names, batches, fingerprint, cache.shards)
    dataset = read(directory, manifest)
    if from_dataset:
        return dataset, None, None
    shuffle = fit_kwargs.pop("shuffle", True)
    dataset = dataset.unbatch()
    if shuffle:
        dataset = dataset.shuffle(min(manifest["samples"], SHUFFLE_BUFFER), reshuffle_each_iteration=True)
    batch_size = batch_size or 32
    # Known length: Keras then counts steps and shows progress as it does for arrays.
    steps = -(-manifest["samples"] // batch_size)
    dataset = dataset.batch(batch_size).apply(tf.data.experimental.assert_cardinality(steps))
    return dataset.prefetch(2), None, None


def compute_fingerprint(distiller, feature_names, batches):
    """SHA-256 hex digest of the teachers' weights, the ensemble, the feature names and the data."""
    digest = _teachers_digest(distiller, feature_names)
    for element in batches:
        _hash_element(digest, element)
    return digest.hexdigest()


def _teachers_digest(distiller, feature_names):
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, "features": list(feature_names),
                              "teacher_weights": list(distiller._teachers.weights)}).encode())
    for teacher in distiller._teachers.teachers:
        _hash_teacher(digest, teacher.source)
    return digest


def _hash_element(digest, element):
    for tensor in tf.nest.flatten(element):
        _hash_array(digest, np.asarray(tensor))


def _hash_teacher(digest, source):
    weights = getattr(source, "weights", None)
    if weights is not None and not isinstance(source, (str, os.PathLike)):
        digest.update(type(source).__name__.encode())
        for weight in weights:
            _hash_array(digest, np.asarray(weight))
    elif isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, source).encode())
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    else:
        # A plain callable shows no weights: only its name can tell two apart.
        digest.update(getattr(source, "__qualname__", type(source).__name__).encode())


def _hash_array(digest, array):
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).data)


def _valid_manifest(directory, fingerprint, strict):
    """The manifest of a cache in ``directory`` made from this data and these teachers, else None."""
    path = os.path.join(directory, FINGERPRINT_FILE)
    if not os.path.exists(path):
        if os.path.isdir(directory) and os.listdir(directory):
            # Rebuilding replaces the whole directory: never do that to a user's folder.
            raise ValueError(f"teacher-output cache {directory!r} is a non-empty directory without "
                             f"{FINGERPRINT_FILE}, so not a tfkd cache; choose a new or empty directory")
        return None
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        manifest = {}
    found = manifest.get("fingerprint")
    if found == fingerprint and manifest.get("format") == FORMAT_VERSION:
        return manifest
    if strict:
        raise CacheMismatchError(
            f"teacher-output cache {directory!r} was made from other data or another teacher "
            f"(fingerprint {str(found)[:12]}..., expected {fingerprint[:12]}...); delete it, choose another "
            "directory, or use strict=False to rebuild it"
        )
    logger.warning("teacher-output cache %s was made from other data or another teacher; rebuilding it", directory)
    return None


def _write(directory, distiller, names, batches, fingerprint, shards):
    from tfkd.resume import check_writable_dir

    parent = os.path.dirname(os.path.abspath(directory))
    check_writable_dir(parent, "teacher-output cache directory")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"teacher-output cache {directory!r} is a file; expected a directory")
    staging = tempfile.mkdtemp(dir=parent, prefix=".tmp-teacher-cache-")
    # No autograph: teachers are models without Python control flow, and autograph would re-read
    # their source files from disk.
    forward = tf.function(lambda inputs: distiller._teachers.forward(inputs, names), reduce_retracing=True,
                          autograph=False)
    try:
        writers = [tf.io.TFRecordWriter(os.path.join(staging, f"shard-{i:05d}.tfrecord")) for i in range(shards)]
        records = samples = 0
        spec = None
        # The data are hashed again as they are written: a dataset that changes between passes
        # (random augmentation, reshuffling) is caught here instead of being cached as if it were fixed.
        written = _teachers_digest(distiller, names)
        for element in batches:
            _hash_element(written, element)
            element = element if isinstance(element, tuple) else (element,)
            inputs, rest = element[0], element[1:]
            outputs, features = forward(inputs)
            full = ({"inputs": inputs, CACHE_KEY: {"outputs": tuple(outputs), "features": dict(features)}}, *rest)
            flat = [tf.convert_to_tensor(t) for t in tf.nest.flatten(full)]
            if spec is None:
                spec = full
            # Round-robin over the shards: reading them interleaved restores the original order.
            writers[records % shards].write(_example(flat))
            records += 1
            samples += int(flat[0].shape[0])
        for writer in writers:
            writer.close()
        if spec is None:
            raise ValueError("cache_teacher got no training data: the dataset is empty")
        if written.hexdigest() != fingerprint:
            logger.warning(
                "the training data differed between two passes (random augmentation or reshuffling in the "
                "tf.data pipeline?): the teacher-output cache holds the second pass and will be rebuilt on "
                "every fit; do not cache teacher outputs of randomly changing data (cache_teacher=False)")
            fingerprint = written.hexdigest()
        manifest = {
            "format": FORMAT_VERSION, "fingerprint": fingerprint, "records": records, "samples": samples,
            "shards": min(shards, records), "labelled": len(spec) > 1,
            "structure": _structure_description(spec),
        }
        for i in range(min(shards, records), shards):  # fewer records than shards: drop the empty files
            os.unlink(os.path.join(staging, f"shard-{i:05d}.tfrecord"))
        with open(os.path.join(staging, FINGERPRINT_FILE), "w") as f:
            json.dump(manifest, f)
        _publish(staging, directory, fingerprint)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _publish(staging, directory, fingerprint):
    """Moves the finished cache into place; another process's identical cache already there wins."""
    if os.path.isdir(directory):
        try:
            with open(os.path.join(directory, FINGERPRINT_FILE)) as f:
                if json.load(f).get("fingerprint") == fingerprint:
                    return
        except (OSError, ValueError):
            pass
        old = directory.rstrip(os.sep) + f".old-{os.getpid()}"
        os.replace(directory, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, directory)
    except OSError:
        if not os.path.isdir(directory):  # lost a race to a concurrent writer, which is fine
            raise


def _example(flat):
    feature = {f"t{i}": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(t).numpy()]))
               for i, t in enumerate(flat)}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _structure_description(element):
    """JSON-able nest of ``[dtype, shape-without-batch]`` leaves, enough to parse records back."""
    def leaf(t):
        t = tf.convert_to_tensor(t)
        return ["tensor", t.dtype.name, [None if d is None else int(d) for d in t.shape[1:]]]

    def describe(node):
        if isinstance(node, dict):
            return {"dict": {k: describe(v) for k, v in sorted(node.items())}}
        if isinstance(node, (tuple, list)):
            return {"tuple": [describe(v) for v in node]}
        return leaf(node)

    return describe(element)


def _rebuild(description, leaves):
    if isinstance(description, dict) and "dict" in description:
        return {k: _rebuild(v, leaves) for k, v in description["dict"].items()}
    if isinstance(description, dict) and "tuple" in description:
        return tuple(_rebuild(v, leaves) for v in description["tuple"])
    return next(leaves)


def _leaf_specs(description):
    if isinstance(description, dict) and "dict" in description:
        return [s for _, v in sorted(description["dict"].items()) for s in _leaf_specs(v)]
    if isinstance(description, dict) and "tuple" in description:
        return [s for v in description["tuple"] for s in _leaf_specs(v)]
    return [(tf.as_dtype(description[1]), description[2])]


def read(directory, manifest):
    """Streams the cache in ``directory`` back: one element per written batch, in the written order."""
    files = [os.path.join(directory, f"shard-{i:05d}.tfrecord") for i in range(manifest["shards"])]
    specs = _leaf_specs(manifest["structure"])
    keys = {f"t{i}": tf.io.FixedLenFeature([], tf.string) for i in range(len(specs))}

    def parse(record):
        parsed = tf.io.parse_single_example(record, keys)
        leaves = [tf.ensure_shape(tf.io.parse_tensor(parsed[f"t{i}"], dtype), [None, *shape])
                  for i, (dtype, shape) in enumerate(specs)]
        element = _rebuild(manifest["structure"], iter(leaves))
        return element if manifest["labelled"] else element[0]

    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
    options = tf.data.Options()
    # Every record is a batch of samples; sharding records keeps multi-worker batches whole.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).with_options(options)


def _array_batches(x, y):
    """A re-iterable of ``(x, y)`` (or ``(x,)``) NumPy chunks of ``CACHE_BATCH_SIZE`` samples."""
    count = len(tf.nest.flatten(x)[0])

    class Chunks:
        def __iter__(self):
            for start in range(0, count, CACHE_BATCH_SIZE):
                chunk = tf.nest.map_structure(lambda a: np.asarray(a[start: start + CACHE_BATCH_SIZE]), x)
                yield (chunk,) if y is None else (chunk, np.asarray(y[start: start + CACHE_BATCH_SIZE]))

    return Chunks()


def _is_arrays(x):
    leaves = tf.nest.flatten(x)
    return bool(leaves) and all(isinstance(a, (np.ndarray, tf.Tensor)) for a in leaves)


def _default_root():
    root = os.environ.get(DEFAULT_ROOT_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "tfkd")
    return os.path.join(root, "teacher_outputs")
