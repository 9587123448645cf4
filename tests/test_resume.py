"""Killed runs resume: BackupAndRestore plus the Distiller's own state, and data replayed by (seed, epoch).

A run is parked mid-epoch, killed with SIGKILL and started again with the same
arguments; it must end with exactly the student of a run that was never interrupted.
With two workers, one is killed; the job (both workers, as TensorFlow's multi-worker
recovery expects) restarts and loses at most the epoch in progress.
"""

import os
import signal
import subprocess

import numpy as np
import pytest

from multiworker_helpers import (RUN_TIMEOUT_S, progress, result, run_single, save_teachers, script_args, wait_for,
                                 weights, worker_env, worker_logs)
from tfkd import distribute

# Uncertainty weighting (learned log-variances), a temperature schedule, two teachers and Adam:
# every piece of the Distiller's state must come back for the weights to match.
STATEFUL = ("--epochs", 3, "--train_samples", 512, "--loss_weighting", "uncertainty", "--schedule")


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    return save_teachers(tmp_path_factory)


def test_run_killed_mid_epoch_resumes_to_the_same_student(teachers, tmp_path):
    # 8 steps per epoch and a backup every 3 steps: the last backup before the kill at
    # step 5 of epoch 1 is after step 3 (the 12th step), so steps 4 and 5 are lost.
    extra = (*STATEFUL, "--save_freq", 3)
    run_single(teachers, tmp_path / "whole", *extra, "--backup", tmp_path / "whole-backup")

    out, backup = tmp_path / "killed", tmp_path / "killed-backup"
    process = subprocess.Popen(script_args(teachers, out, *extra, "--backup", backup, "--pause_at", "1:5"),
                               env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_for(out / "paused-0", [process])
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        distribute.kill_group(process)
    assert process.returncode == -signal.SIGKILL
    assert not (out / "result-0.json").exists()
    resumed = run_single(teachers, out, *extra, "--backup", backup)

    # The restart began right after the last backup (epoch 1, step 4), not at the start.
    assert resumed["epochs_trained"] == [1, 2]
    assert progress(out, 0)[resumed_start(progress(out, 0))] == (1, 4)
    for whole, killed in zip(weights(tmp_path / "whole", 0), weights(out, 0)):
        np.testing.assert_array_equal(whole, killed)  # bit for bit
    assert not os.listdir(backup) or not (backup / "chief").exists()  # removed once finished


def resumed_start(steps):
    """Index in a progress log where the second run began (the step counter went back)."""
    for index in range(1, len(steps)):
        if steps[index] <= steps[index - 1]:
            return index
    raise AssertionError(f"no restart in {steps}")


def test_killed_worker_job_restarts_and_loses_at_most_the_epoch_in_progress(teachers, tmp_path):
    out, backup = tmp_path / "job", tmp_path / "job-backup"
    extra = (*STATEFUL, "--backup", backup)
    with distribute.local_workers(script_args(teachers, out, *extra, "--pause_at", "1:4"), 2, env=worker_env(),
                                  log_dir=out / "logs-first") as processes:
        # Both workers park after step 4 of epoch 1; worker 1 is killed there.
        wait_for(out / "paused-1", processes)
        os.killpg(processes[1].pid, signal.SIGKILL)
        processes[1].wait(timeout=30)
        assert processes[1].returncode == -signal.SIGKILL
    # Leaving the block killed worker 0 too: the whole job restarts from the last backup.
    assert not (out / "result-0.json").exists()

    with distribute.local_workers(script_args(teachers, out, *extra), 2, env=worker_env(),
                                  log_dir=out / "logs-second") as processes:
        codes = distribute.wait_all(processes, RUN_TIMEOUT_S)
    assert codes == [0, 0], worker_logs(out)
    results = [result(out, i) for i in range(2)]
    # Epoch 0 was backed up; epoch 1 was in progress when the worker died and is trained again.
    assert [r["epochs_trained"] for r in results] == [[1, 2], [1, 2]]
    for a, b in zip(weights(out, 0), weights(out, 1)):
        np.testing.assert_array_equal(a, b)
    assert results[0]["accuracy"] > 0.5, results


def test_epoch_order_depends_only_on_seed_and_epoch():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)

    def labels(dataset):
        return [batch[1].numpy().tolist() for batch in dataset]

    whole, steps = tfkd_resume().epoch_ordered_batches(x, y, 4, epochs=3, seed=5)
    assert steps == 3
    whole = labels(whole)
    assert len(whole) == 9 and whole[:3] != whole[3:6]  # reshuffled every epoch
    assert sorted(sum(whole[3:6], [])) == list(range(10))  # every sample once per epoch
    resumed, _ = tfkd_resume().epoch_ordered_batches(x, y, 4, epochs=3, seed=5, start_epoch=1, start_step=2)
    assert labels(resumed) == whole[5:]
    other_seed, _ = tfkd_resume().epoch_ordered_batches(x, y, 4, epochs=3, seed=6)
    assert labels(other_seed) != whole


def test_bad_backup_arguments_get_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="backup directory .* is not writable"):
        tfkd_resume().backup_callback(blocker / "backup")
    with pytest.raises(ValueError, match="shuffle= is set by tfkd.resume.fit"):
        tfkd_resume().fit(None, np.zeros((4, 1)), backup_dir=tmp_path / "b", shuffle=True)


def tfkd_resume():
    import tfkd.resume

    return tfkd.resume
