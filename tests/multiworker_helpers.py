"""Shared by the multi-worker and resume tests: saved teachers and worker processes that never outlive a test."""

import json
import os
import subprocess
import sys
import time

import numpy as np

from tfkd import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_SCRIPT = os.path.join(ROOT, "tools", "distil_multiworker.py")
RUN_TIMEOUT_S = 300  # generous: a 2-core machine shared with other jobs


def save_teachers(tmp_path_factory):
    """Two small reference teachers of different widths, trained briefly on digits; returns their paths.

    Trained once per test session: the files are shared through pytest's base temporary directory.
    """
    import tf_keras

    import tfkd

    directory = tmp_path_factory.getbasetemp() / "scale_teachers"
    directory.mkdir(exist_ok=True)
    paths = [str(directory / f"teacher_{index}.keras") for index in range(2)]
    if all(os.path.exists(p) for p in paths):
        return paths
    (x, y), _, _ = tfkd.data.load("digits")
    for index, width in enumerate((8, 4)):
        tf_keras.utils.set_random_seed(index)
        teacher = tfkd.models.cnn_teacher((8, 8, 1), 10, width=width, name=f"teacher_{index}")
        teacher.compile(tf_keras.optimizers.Adam(3e-3),
                        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        teacher.fit(x, y, epochs=4, batch_size=32, verbose=0)
        staging = str(directory / f".tmp-teacher_{index}.keras")
        teacher.save(staging)
        os.replace(staging, paths[index])
    return paths


def worker_env():
    """CPU only, quiet, and importable tfkd from this checkout."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    return env


def script_args(teachers, out, *extra):
    return [sys.executable, WORKER_SCRIPT, "--teachers", ",".join(teachers), "--out", str(out), *map(str, extra)]


def run_single(teachers, out, *extra):
    """Runs the worker script as one process (no TF_CONFIG); returns its result dict."""
    process = subprocess.Popen(script_args(teachers, out, *extra), env=worker_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        distribute.kill_group(process)
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    return result(out, 0)


def run_workers(teachers, out, *extra, num_workers=2):
    """Runs the worker script as ``num_workers`` local workers of one cluster; returns their result dicts."""
    with distribute.local_workers(script_args(teachers, out, *extra), num_workers, env=worker_env(),
                                  log_dir=os.path.join(out, "logs")) as processes:
        codes = distribute.wait_all(processes, RUN_TIMEOUT_S)
    assert codes == [0] * num_workers, worker_logs(out)
    return [result(out, i) for i in range(num_workers)]


def wait_for(path, processes, timeout=RUN_TIMEOUT_S):
    """Waits until ``path`` exists, failing early if a process dies first."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        dead = [p.returncode for p in processes if p.poll() is not None]
        assert not dead, f"a process exited with {dead} before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.2)


def result(out, index):
    with open(os.path.join(out, f"result-{index}.json")) as f:
        return json.load(f)


def weights(out, index):
    with np.load(os.path.join(out, f"student-{index}.npz")) as arrays:
        return [arrays[k] for k in sorted(arrays.files, key=lambda k: int(k.split("_")[1]))]


def progress(out, index):
    """``(epoch, step)`` pairs in the order a worker trained them, over all its runs."""
    with open(os.path.join(out, f"progress-{index}.log")) as f:
        return [tuple(map(int, line.split())) for line in f if line.strip()]


def worker_logs(out):
    logs = os.path.join(out, "logs")
    texts = []
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), errors="replace") as f:
            texts.append(f"--- {name}\n{f.read()[-2000:]}")
    return "\n".join(texts)
