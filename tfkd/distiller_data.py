"""How the Distiller looks at its training data: the first batch and cached teacher outputs."""

import numpy as np
import tensorflow as tf

CACHE_KEY = "tfkd_teacher_cache"
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
    random augmentation.
    """
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
