"""Distils saved teachers into the reference student on digits, on one process or as one worker of many.

Without ``TF_CONFIG`` it trains in this process. With ``TF_CONFIG`` (set per worker by
``python -m tfkd.distribute --workers 2 tools/distil_multiworker.py ...`` or by a cluster
manager, one per host) it joins a ``MultiWorkerMirroredStrategy`` cluster: every
worker builds the same Distiller in the strategy's scope and ``fit`` trains on the
global batches, which tf.data shards across the workers.

Each worker writes ``OUT/result-I.json`` (test accuracy, samples/s, epochs it trained)
and ``OUT/student-I.npz`` (the student's weights). With ``--backup`` the run resumes
from its last checkpoint after a kill (see ``tfkd.resume``).

Usage:
    python tools/distil_multiworker.py --teachers t1.keras,t2.keras --out OUT [--epochs 4]
        [--batch_size 64] [--augment] [--unlabelled 400] [--cache none|memory|disk|PATH]
        [--backup DIR] [--save_freq epoch|N]
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", required=True, help="comma-separated .keras teacher files")
    parser.add_argument("--out", required=True, help="directory for result-I.json and student-I.npz")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=64, help="global batch size, over all workers")
    parser.add_argument("--learning_rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_samples", type=int, default=0, help="use only the first N samples (0: all)")
    parser.add_argument("--repeat_data", type=int, default=1, help="tile the training set N times (benchmarks)")
    parser.add_argument("--augment", action="store_true", help="Distiller(augment=tfkd.augment.images(...))")
    parser.add_argument("--unlabelled", type=int, default=0,
                        help="treat the last N training samples as unlabelled transfer data")
    parser.add_argument("--cache", default="none", help="teacher outputs: none, memory, disk or a directory")
    parser.add_argument("--loss_weighting", default="fixed", choices=["fixed", "uncertainty"])
    parser.add_argument("--schedule", action="store_true", help="temperature from 4 to 2 over the epochs")
    parser.add_argument("--textbook", action="store_true",
                        help="the Keras-documentation distiller (first teacher only), for speed comparisons")
    parser.add_argument("--backup", default=None, help="BackupAndRestore directory: resume after a kill")
    parser.add_argument("--save_freq", default="epoch", help="'epoch' or a number of steps between backups")
    parser.add_argument("--pause_at", default=None,
                        help="EPOCH:STEP: after that step, write OUT/paused-I and sleep (for kill tests)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import tfkd
    import tfkd.resume
    from tfkd import distribute

    multi_worker = "TF_CONFIG" in os.environ
    # TensorFlow requires the multi-worker strategy before any other TensorFlow work.
    try:
        strategy = distribute.multi_worker_strategy() if multi_worker else None
    except ValueError as error:  # a malformed TF_CONFIG: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    import numpy as np
    import tensorflow as tf
    import tf_keras

    if strategy is None:
        strategy = tf.distribute.get_strategy()
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"] if multi_worker else 0
    os.makedirs(args.out, exist_ok=True)

    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    if args.train_samples:
        x, y = x[: args.train_samples], y[: args.train_samples]
    x, y = np.tile(x, (args.repeat_data, 1, 1, 1)), np.tile(y, args.repeat_data)
    x_unlabelled = None
    if args.unlabelled:
        x, y, x_unlabelled = x[: -args.unlabelled], y[: -args.unlabelled], x[-args.unlabelled:]
    teachers = [tfkd.load_model(path) for path in args.teachers.split(",")]

    tf_keras.utils.set_random_seed(args.seed)
    options = {}
    if args.augment:
        options["augment"] = tfkd.augment.images(translate=0.1, rotate=10, seed=args.seed)
    if args.cache != "none":
        options["cache_teacher"] = True if args.cache == "memory" else args.cache
    with strategy.scope():
        student = tfkd.models.cnn_student((8, 8, 1), 10)
        if args.textbook:
            from benchmarks.training_speed import KerasDocsDistiller  # tools/benchmarks

            distiller = KerasDocsDistiller(student, teachers[0])
            distiller.compile(optimizer=tf_keras.optimizers.Adam(args.learning_rate), metrics=["accuracy"])
        else:
            distiller = tfkd.Distiller(student=student, teacher=teachers, loss_weighting=args.loss_weighting,
                                       **options)
            distiller.compile(optimizer=tf_keras.optimizers.Adam(args.learning_rate),
                              loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              metrics=["accuracy"])

    progress = _Progress(os.path.join(args.out, f"progress-{index}.log"), args.pause_at,
                         os.path.join(args.out, f"paused-{index}"))
    callbacks = [progress]
    if args.schedule:
        callbacks.append(tfkd.callbacks.LinearSchedule("temperature", 4.0, 2.0, epochs=args.epochs))
    fit_kwargs = {"callbacks": callbacks, "verbose": 0}
    if x_unlabelled is not None:
        if args.backup:
            raise SystemExit("--unlabelled with --backup is not supported: tfkd.resume.fit takes labelled arrays")
        fit_kwargs["unlabelled"] = x_unlabelled
    start = time.perf_counter()
    if args.backup:
        save_freq = args.save_freq if args.save_freq == "epoch" else int(args.save_freq)
        tfkd.resume.fit(distiller, x, y, backup_dir=args.backup, epochs=args.epochs, batch_size=args.batch_size,
                        seed=args.seed, save_freq=save_freq, **fit_kwargs)
    elif x_unlabelled is not None or args.cache != "none":
        # The Distiller mixes unlabelled samples into every global batch and caches teacher outputs
        # of arrays itself; tf.distribute shards those batches across the workers.
        distiller.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, **fit_kwargs)
    else:
        dataset, steps = tfkd.resume.epoch_ordered_batches(x, y, args.batch_size, args.epochs, args.seed)
        distiller.fit(dataset, epochs=args.epochs, steps_per_epoch=steps, **fit_kwargs)
    seconds = time.perf_counter() - start

    accuracy = float(np.mean(np.argmax(student.predict(x_test, verbose=0), axis=-1) == y_test))
    np.savez(os.path.join(args.out, f"student-{index}.npz"), *student.get_weights())
    result = {
        "worker": index, "workers": strategy.num_replicas_in_sync, "accuracy": accuracy,
        "epochs_trained": progress.epochs, "steps_trained": progress.steps,
        "samples_per_s": progress.steps * args.batch_size / seconds if progress.steps else None,
        "seconds": seconds, "epoch_seconds": progress.epoch_seconds, "samples": len(x),
    }
    with open(os.path.join(args.out, f"result-{index}.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps(result), flush=True)
    return 0


class _Progress:
    """Records the epochs and steps this process trained; optionally parks the process mid-epoch."""

    def __new__(cls, *args):
        import tf_keras

        class Progress(tf_keras.callbacks.Callback):
            def __init__(self, log_path, pause_at, paused_path):
                super().__init__()
                self.log_path, self.paused_path = log_path, paused_path
                self.pause_at = tuple(int(v) for v in pause_at.split(":")) if pause_at else None
                self.epochs, self.steps, self._epoch = [], 0, 0
                self.epoch_seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch
                self.epochs.append(epoch)
                self._started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.epoch_seconds.append(time.perf_counter() - self._started)

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1
                with open(self.log_path, "a") as f:
                    f.write(f"{self._epoch} {batch}\n")
                if self.pause_at == (self._epoch, batch):
                    with open(self.paused_path, "w") as f:
                        f.write(f"{self._epoch} {batch}\n")
                    time.sleep(3600)  # the test kills this process here, mid-epoch

        return Progress(*args)


if __name__ == "__main__":
    sys.exit(main())
