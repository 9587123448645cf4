"""``tfkd distill`` killed between stages resumes from its output directory."""

import os
import signal
import subprocess
import sys

from multiworker_helpers import RUN_TIMEOUT_S, wait_for, worker_env
from tfkd import distribute

COMMAND = ("distill", "--fast", "--teacher_epochs", "2", "--student_epochs", "3", "--recipe", "textbook")


def test_distill_killed_after_the_teacher_resumes_without_training_it_again(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "tfkd", *COMMAND, "--out", str(out)]
    process = subprocess.Popen(argv, env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_for(out / ".tfkd-backup" / "teacher.json", [process])
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        distribute.kill_group(process)
    assert not (out / "student.keras").exists()

    resumed = subprocess.run(argv, env=worker_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[teacher] resumed" in resumed.stdout
    assert "[student_distilled] training" in resumed.stdout
    assert sorted(os.listdir(out)) == ["student.keras", "teacher.keras"]  # the backups are gone
