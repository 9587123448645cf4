"""Resuming an interrupted distillation with Keras' own ``BackupAndRestore``.

``BackupAndRestore`` checkpoints the whole Distiller: the student, the optimizer
slots, the feature adapters, the learned loss weights (``loss_weighting="uncertainty"``),
``alpha``, ``temperature``, the hint stage and the epoch and step reached. Epoch
schedules (``tfkd.callbacks.LinearSchedule`` and friends) compute their value from the
epoch number, so they resume with it.

One thing Keras does not restore is the position in the data: after a restart it
starts a fresh iterator, so the resumed epoch sees other batches than the lost one
(and, mid-epoch, the first batches again), and shuffling restarts its random stream.
``fit`` below feeds the Distiller batches whose order depends only on
``(seed, epoch)`` and starts them at the saved epoch and step, so a run killed at any
point and restarted ends with exactly the weights of a run never interrupted.
``tfkd.callbacks.OnPlateau`` keeps its patience count in Python, outside the checkpoint:
after a restart it counts again from zero.

Example (``python train.py`` may be killed and run again; it continues)::

    history = tfkd.resume.fit(distiller, x, y, backup_dir="out/backup", epochs=20,
                              batch_size=32, seed=0)
"""

import os

import numpy as np
import tensorflow as tf
import tf_keras

BACKUP_DIR_NAME = ".tfkd-backup"


def backup_callback(directory, save_freq="epoch", delete_checkpoint=True):
    """A ``tf_keras.callbacks.BackupAndRestore`` writing to ``directory``, checked to be writable.

    ``save_freq="epoch"`` loses at most the epoch in progress; an integer N saves every
    N steps. With ``delete_checkpoint=False`` a finished run leaves its checkpoint, so
    running the same ``fit`` again restores the final state and trains no more epochs.
    """
    check_writable_dir(directory, "backup directory")
    return tf_keras.callbacks.BackupAndRestore(directory, save_freq=save_freq, delete_checkpoint=delete_checkpoint)


def stage_callbacks(out_dir, stage):
    """``[BackupAndRestore]`` for one training stage of a command writing into ``out_dir``.

    The checkpoint lives in ``out_dir/.tfkd-backup/<stage>`` and survives the end of
    the stage, so a command killed in a later stage and run again replays finished
    stages from their checkpoints instead of training them again. ``discard_backups``
    removes them once the command has written its outputs.
    """
    return [backup_callback(os.path.join(out_dir, BACKUP_DIR_NAME, stage), delete_checkpoint=False)]


def discard_backups(out_dir):
    """Removes the checkpoints ``stage_callbacks`` wrote under ``out_dir``."""
    path = os.path.join(out_dir, BACKUP_DIR_NAME)
    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def finished_stage(out_dir, name, settings, train, log=None):
    """``train()``'s ``(model, history)``, or the model an interrupted earlier run finished.

    Commands that train several models in turn (``tfkd distill``) keep each finished model
    in ``out_dir/.tfkd-backup/<name>.keras`` with a fingerprint of ``settings`` (anything
    with a stable ``repr``: the recipe, the dataset, the seed). Run again after Ctrl-C or a
    kill with the same settings, they load those and train only what is left; other
    settings train again. A Distiller is kept as its student. History is None when loaded.
    """
    import hashlib
    import json

    from tfkd import files
    from tfkd.saving import load_model

    folder = os.path.join(out_dir, BACKUP_DIR_NAME)
    path, record = os.path.join(folder, f"{name}.keras"), os.path.join(folder, f"{name}.json")
    fingerprint = hashlib.sha256(repr(settings).encode()).hexdigest()
    if os.path.exists(path) and os.path.exists(record):
        with open(record) as f:
            if json.load(f).get("settings") == fingerprint:
                if log:
                    log(f"[{name}] resumed: loaded the model a previous run finished ({path})")
                return load_model(path), None
    model, history = train()
    check_writable_dir(folder, "backup directory")
    kept = getattr(model, "student", model)
    staging = os.path.join(folder, f".tmp-{name}-{os.getpid()}.keras")
    kept.save(staging)
    os.replace(staging, path)
    # Written last: a model without its record is never trusted.
    files.atomic_write_text(record, json.dumps({"settings": fingerprint}))
    return model, history


def resume_position(directory, save_freq, steps_per_epoch):
    """``(epoch, step)`` at which ``BackupAndRestore`` in ``directory`` resumes; ``(0, 0)`` without a backup.

    Mirrors Keras: an ``"epoch"`` backup resumes at the next epoch; a backup saved every
    N steps resumes at the step after the saved one.
    """
    latest = tf.train.latest_checkpoint(os.path.join(directory, "chief"))
    if latest is None:
        return 0, 0
    reader = tf.train.load_checkpoint(latest)
    epoch = int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    step = int(reader.get_tensor("ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    if epoch < 0:
        return 0, 0
    if isinstance(save_freq, int) and step >= 0:
        return (epoch + 1, 0) if step == steps_per_epoch - 1 else (epoch, step + 1)
    return epoch + 1, 0


def epoch_ordered_batches(x, y, batch_size, epochs, seed, start_epoch=0, start_step=0):
    """Batches of epochs ``start_epoch..epochs-1``, each shuffled by ``(seed, epoch)`` alone.

    Returns ``(dataset, steps_per_epoch)``. The dataset starts at ``start_step`` of
    ``start_epoch``, so a resumed run sees exactly the batches the lost run would have.
    Its batches are global batches; under ``MultiWorkerMirroredStrategy`` tf.data shards
    each one across the workers (``AutoShardPolicy.DATA``).
    """
    count = len(x)
    steps_per_epoch = -(-count // batch_size)
    x = tf.constant(np.asarray(x))
    y = None if y is None else tf.constant(np.asarray(y))

    def one_epoch(epoch):
        # Stateless: the order is a pure function of (seed, epoch), whatever ran before.
        noise = tf.random.stateless_uniform([count], seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(noise)).batch(batch_size)

    def gather(indices):
        return tf.gather(x, indices) if y is None else (tf.gather(x, indices), tf.gather(y, indices))

    # A finished run still gets one epoch of data: Distiller.fit looks at the first batch.
    start_epoch = min(start_epoch, epochs - 1)
    dataset = tf.data.Dataset.range(start_epoch, epochs).flat_map(one_epoch).skip(start_step).map(gather)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(2), steps_per_epoch


def fit(distiller, x, y=None, backup_dir=None, epochs=1, batch_size=32, seed=0, save_freq="epoch",
        callbacks=(), **fit_kwargs):
    """``distiller.fit`` that continues from ``backup_dir`` and replays the lost batches exactly.

    Args:
        distiller: a compiled ``tfkd.Distiller`` (or any ``tf_keras.Model``).
        x, y: NumPy arrays of the training inputs and labels (``y`` may be None).
        backup_dir: where ``BackupAndRestore`` keeps its checkpoint (removed at the end).
        save_freq: ``"epoch"`` or a number of steps between checkpoints.
        seed: fixes the order of the samples in every epoch.
        fit_kwargs: anything else for ``fit`` (``validation_data``, ``verbose``, ...), but
            not ``shuffle`` or ``steps_per_epoch``: the order comes from ``seed``.
    """
    for name in ("shuffle", "steps_per_epoch", "initial_epoch"):
        if name in fit_kwargs:
            raise ValueError(f"{name}= is set by tfkd.resume.fit from the seed and the backup; leave it out")
    if backup_dir is None:
        raise ValueError("backup_dir is required: the directory to keep the training state in")
    backup = backup_callback(backup_dir, save_freq=save_freq)
    steps_per_epoch = -(-len(x) // batch_size)
    start_epoch, start_step = resume_position(backup_dir, save_freq, steps_per_epoch)
    dataset, steps_per_epoch = epoch_ordered_batches(x, y, batch_size, epochs, seed, start_epoch, start_step)
    return distiller.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                         callbacks=[backup, *callbacks], **fit_kwargs)


def check_writable_dir(directory, what):
    """Creates ``directory`` if needed and proves it writable; one ``ValueError`` naming it otherwise."""
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{what} {directory!r} is a file; expected a directory")
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, f".tfkd-write-test-{os.getpid()}")
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{what} {directory!r} is not writable: {error.strerror}") from None
    return directory
