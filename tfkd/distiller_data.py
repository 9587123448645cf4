"""How the Distiller looks at its training data: the first batch, cached teacher outputs and
batches that mix labelled with unlabelled samples.

Inside ``train_step`` a batch's ``x`` is either the user's inputs or a dict holding them
under ``"inputs"`` together with private keys: ``CACHE_KEY`` (teacher outputs computed
once) and ``LABELLED_KEY`` (1.0 for a labelled sample, 0.0 for an unlabelled one).
"""

import math

import numpy as np
import tensorflow as tf

CACHE_KEY = "tfkd_teacher_cache"
LABELLED_KEY = "tfkd_labelled"
DEFAULT_BATCH_SIZE = 32
FIRST_BATCH_SIZE = 32
CACHE_BATCH_SIZE = 256


def first_batch(x, y):
    """A small ``(x, y)`` batch from arrays or a dataset, or None for other inputs (generators)."""
    if isinstance(x, tf.data.Dataset):
        element = next(iter(x.take(1)))
        if isinstance(element, tuple):
            return element[0], element[1] if len(element) > 1 else None
        return element, None
    if _is_array_structure(x):
        head = tf.nest.map_structure(lambda a: np.asarray(a)[:FIRST_BATCH_SIZE], x)
        return head, None if y is None else np.asarray(y)[:FIRST_BATCH_SIZE]
    return None


def _is_array_structure(x):
    leaves = tf.nest.flatten(x)
    return bool(leaves) and all(isinstance(a, (np.ndarray, tf.Tensor)) for a in leaves)


def teacher_output_cache(distiller, x, y, batch_size, fit_kwargs):
    """Replaces ``x`` by ``{"inputs": x, CACHE_KEY: teacher outputs}`` computed once.

    Arrays are run through the teachers in batches before training, so every
    epoch after that pays only for the student and shuffling still works. A
    dataset is mapped through the teachers and cached after its first epoch: the
    order and content of its first pass are then replayed, so shuffle before
    batching only in pipelines where that is acceptable, and never cache with
    random augmentation. ``cache_teacher="disk"`` or a path streams them from files
    instead (``tfkd.teacher_cache``).
    """
    from tfkd import teacher_cache  # imports this module

    disk = teacher_cache.from_option(distiller.cache_teacher)
    if disk is not None:
        return teacher_cache.disk_output_cache(distiller, disk, x, y, batch_size, fit_kwargs)
    names = distiller._teacher_feature_names()
    forward = distiller._teachers.forward
    if isinstance(x, tf.data.Dataset):

        def add_cache(*element):
            inputs, rest = element[0], element[1:]
            outputs, features = forward(inputs, names)
            cached = {"outputs": tuple(outputs), "features": features}
            return ({"inputs": inputs, CACHE_KEY: cached}, *rest)

        return x.map(add_cache, num_parallel_calls=tf.data.AUTOTUNE).cache(), y, batch_size
    if not _is_array_structure(x):
        raise ValueError(
            f"cache_teacher=True needs NumPy arrays or a tf.data.Dataset, got {type(x).__name__}; "
            "pass arrays or set cache_teacher=False"
        )
    count = len(tf.nest.flatten(x)[0])
    output_chunks, feature_chunks = [], []
    for start in range(0, count, CACHE_BATCH_SIZE):
        chunk = tf.nest.map_structure(lambda a: a[start : start + CACHE_BATCH_SIZE], x)
        outputs, features = forward(chunk, names)
        output_chunks.append([np.asarray(t) for t in outputs])
        feature_chunks.append({k: np.asarray(v) for k, v in features.items()})
    outputs = tuple(np.concatenate(parts) for parts in zip(*output_chunks))
    features = {k: np.concatenate([c[k] for c in feature_chunks]) for k in names}
    return {"inputs": x, CACHE_KEY: {"outputs": outputs, "features": features}}, y, batch_size


def unpack_inputs(x):
    """``(inputs, cached teacher outputs or None, labelled mask or None)`` of a batch's ``x``."""
    if isinstance(x, dict) and (CACHE_KEY in x or LABELLED_KEY in x):
        return x["inputs"], x.get(CACHE_KEY), x.get(LABELLED_KEY)
    return x, None, None


def check_unlabelled(x, unlabelled):
    """Raises ValueError unless ``unlabelled`` holds inputs of the same shape and dtype as ``x``."""
    labelled_spec = _input_spec(x, labelled=True)
    unlabelled_spec = _input_spec(unlabelled, labelled=False)
    if labelled_spec is None or unlabelled_spec is None:
        raise ValueError(
            f"fit(unlabelled=...) needs NumPy arrays or a tf.data.Dataset for x and unlabelled; got "
            f"x of type {type(x).__name__} and unlabelled of type {type(unlabelled).__name__}"
        )
    try:
        tf.nest.assert_same_structure(labelled_spec, unlabelled_spec)
    except (ValueError, TypeError):
        raise ValueError(
            f"unlabelled inputs have structure {unlabelled_spec} but x has {labelled_spec}; they must match"
        ) from None
    for lab, unl in zip(tf.nest.flatten(labelled_spec), tf.nest.flatten(unlabelled_spec)):
        if not lab.shape.is_compatible_with(unl.shape) or lab.dtype != unl.dtype:
            raise ValueError(
                f"unlabelled inputs have shape {tuple(unl.shape)} and dtype {unl.dtype.name} per sample but "
                f"x has shape {tuple(lab.shape)} and dtype {lab.dtype.name}; they must match"
            )


def _input_spec(data, labelled):
    """Per-sample ``tf.TensorSpec`` structure of the inputs in arrays or a dataset of batches."""
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        if isinstance(spec, tuple):
            if labelled and len(spec) < 2:
                raise ValueError("fit(unlabelled=...) needs labelled x: a dataset of (x, y) batches")
            spec = spec[0]
        return tf.nest.map_structure(lambda s: tf.TensorSpec(s.shape[1:], s.dtype), spec)
    if _is_array_structure(data):
        return tf.nest.map_structure(lambda a: tf.TensorSpec(np.shape(a)[1:], tf.as_dtype(a.dtype)), data)
    return None


def split_batch(batch_size, labelled_count, unlabelled_count, ratio):
    """``(labelled, unlabelled)`` samples per batch for ``ratio`` unlabelled samples per labelled one."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(
            f"batch_size={batch_size!r} is invalid with unlabelled data; expected an integer >= 2 "
            "(every batch holds labelled and unlabelled samples)"
        )
    if ratio is None:
        ratio = unlabelled_count / labelled_count
    labelled = min(batch_size - 1, max(1, round(batch_size / (1.0 + ratio))))
    return labelled, batch_size - labelled


def check_ratio(ratio):
    if ratio is None:
        return None
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(
            f"unlabelled_ratio={ratio!r} is invalid; expected a number > 0 of unlabelled samples per "
            "labelled sample, or None for the ratio of the two set sizes"
        )
    return float(ratio)


def labelled_and_unlabelled(x, y, unlabelled, ratio, batch_size, shuffle, sample_weight=None):
    """A dataset whose every batch holds labelled and unlabelled samples in ``ratio``.

    ``x``/``y`` are arrays (``sample_weight`` optional) or a dataset of ``(x, y[, w])``
    batches; ``unlabelled`` is arrays or a dataset of input batches; either ``x`` may
    already carry cached teacher outputs. Unlabelled samples get placeholder labels
    of zeros and ``LABELLED_KEY`` 0. One epoch is ``max(ceil(n_labelled / per batch),
    ceil(n_unlabelled / per batch))`` steps: every sample of both sets is seen at least
    once, the smaller share repeats. Arrays are reshuffled every pass when ``shuffle``;
    datasets keep their own order (shuffle them yourself).
    """
    ratio = check_ratio(ratio)
    if isinstance(x, tf.data.Dataset):
        if batch_size is None:
            batch_size = int(tf.shape(tf.nest.flatten(next(iter(x.take(1)))[0])[0])[0])
        labelled, labelled_count = x.unbatch(), _count(x)
    else:
        if y is None:
            raise ValueError("fit(x, unlabelled=...) needs labels y for x; to train on inputs only, use fit(x)")
        parts = (x, y) if sample_weight is None else (x, y, sample_weight)
        labelled = tf.data.Dataset.from_tensor_slices(parts)
        labelled_count = len(tf.nest.flatten(x)[0])
        if shuffle:
            labelled = labelled.shuffle(labelled_count)
    if isinstance(unlabelled, tf.data.Dataset):
        unlabelled_count = _count(unlabelled)
        unlabelled = unlabelled.unbatch()
        if isinstance(unlabelled.element_spec, tuple):
            unlabelled = unlabelled.map(lambda *element: element[0])
    else:
        unlabelled_count = len(tf.nest.flatten(unlabelled)[0])
        unlabelled = tf.data.Dataset.from_tensor_slices(unlabelled)
        if shuffle:
            unlabelled = unlabelled.shuffle(unlabelled_count)
    if labelled_count == 0 or unlabelled_count == 0:
        raise ValueError(
            f"fit(unlabelled=...) got {labelled_count} labelled and {unlabelled_count} unlabelled samples; "
            "expected at least one of each"
        )
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    per_labelled, per_unlabelled = split_batch(batch_size, labelled_count, unlabelled_count, ratio)
    steps = max(math.ceil(labelled_count / per_labelled), math.ceil(unlabelled_count / per_unlabelled))

    def combine(labelled_element, unlabelled_inputs):
        inputs, labels, *weights = labelled_element
        merged = tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=0), inputs, unlabelled_inputs)
        placeholder = tf.zeros([per_unlabelled, *labels.shape[1:]], labels.dtype)
        mask = tf.concat([tf.ones([per_labelled]), tf.zeros([per_unlabelled])], axis=0)
        merged = dict(merged) if isinstance(merged, dict) and CACHE_KEY in merged else {"inputs": merged}
        merged[LABELLED_KEY] = mask
        element = (merged, tf.concat([labels, placeholder], axis=0))
        if weights:
            weight = tf.cast(weights[0], tf.float32)
            element += (tf.concat([weight, tf.ones([per_unlabelled], weight.dtype)], axis=0),)
        return element

    labelled = labelled.repeat().batch(per_labelled, drop_remainder=True)
    unlabelled = unlabelled.repeat().batch(per_unlabelled, drop_remainder=True)
    mixed = tf.data.Dataset.zip((labelled, unlabelled)).map(combine, num_parallel_calls=tf.data.AUTOTUNE)
    return mixed.take(steps).prefetch(tf.data.AUTOTUNE)


def _count(dataset):
    """Samples in a finite dataset of batches (one pass over it)."""
    return int(dataset.reduce(
        tf.constant(0, tf.int64),
        lambda count, element: count + tf.cast(tf.shape(tf.nest.flatten(element)[0])[0], tf.int64),
    ))
