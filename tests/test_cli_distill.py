"""``tfkd distill`` and the command line's handling of bad usage."""

import os
import subprocess
import sys

import numpy as np

import tfkd


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tfkd", *args], capture_output=True, text=True, timeout=600)


def test_distill_saves_teacher_and_student_and_prints_accuracies(tmp_path):
    out = tmp_path / "run"
    result = run_cli("distill", "--out", str(out), "--fast", "--teacher_epochs", "2", "--student_epochs", "2",
                     "--quiet")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    for stage in ("teacher", "student_scratch", "student_distilled"):
        assert 0.0 <= float(rows[stage][2]) <= 1.0
    assert int(rows["teacher"][1]) > 100 * int(rows["student_distilled"][1])
    student = tfkd.load_model(str(out / "student.keras"))
    (_, _), (x_test, y_test), _ = tfkd.data.load("digits")
    accuracy = np.mean(np.argmax(student.predict(x_test, verbose=0), axis=-1) == y_test)
    assert abs(accuracy - float(rows["student_distilled"][2])) < 1e-4
    assert sorted(os.listdir(out)) == ["student.keras", "teacher.keras"]


def test_bad_usage_is_one_line_and_exit_code_2(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        ("distill", "--bogus"),
        ("distill", "--out", str(a_file)),
        ("distill", "--out", str(tmp_path / "new"), "--dataset", "nope"),
        ("distill", "--out", str(tmp_path / "new"), "--recipe", "bold"),
        ("distill",),
        ("no-such-command",),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("tfkd"), result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "new").exists()


def test_help_lists_commands_and_flags():
    result = run_cli("--help")
    assert result.returncode == 0 and "distill" in result.stdout
    result = run_cli("distill", "--help")
    assert result.returncode == 0 and "--out" in result.stdout and "--seed" in result.stdout
    assert "--recipe" in result.stdout and "textbook" in result.stdout
