"""`tfkd export --ram_budget` agrees with the arena the TFLM firmware measures on the host and the Cortex-M4.

Agreement means: a budget export accepts is one the firmware runs in (on both targets), and a budget
below what the firmware needs is one export rejects and the firmware cannot allocate in.
"""

import re
import subprocess
import sys

import numpy as np
import pytest

import tflm_support
from tflm_support import tflm_firmware

TARGETS = {"host": "reference", "cortex-m4": "cmsis_nn"}
BUDGET_EXCEEDED = 3


def _export(work, budget):
    out = work / f"out_{budget}"
    result = subprocess.run([sys.executable, "-m", "tfkd", "export", str(work / "student.keras"), "--data",
                             str(work / "data.npz"), "--out", str(out), "--ram_budget", str(budget)],
                            capture_output=True, text=True)
    ram = re.search(r"^RAM \(tensor arena incl\. margin\): ([\d,]+) bytes of ([\d,]+) allowed", result.stdout, re.M)
    assert ram, result.stdout + result.stderr
    return result.returncode, int(ram.group(1).replace(",", "")), out / "micro"


def test_export_ram_budget_agrees_with_the_firmware(tmp_path):
    tflm = tflm_support.tflm_dir()
    import tf_keras

    import tfkd

    tf_keras.utils.set_random_seed(tflm_support.tflm_models.SEED)
    model, _ = tflm_support.tflm_models.digits_cnn()
    model.save(tmp_path / "student.keras")
    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    np.savez(tmp_path / "data.npz", x_train=x[:200], y_train=y[:200], x_test=x_test[:40], y_test=y_test[:40])

    code, ram, micro = _export(tmp_path, 1 << 20)
    assert code == 0
    used = {}
    for target, kernels in TARGETS.items():
        program = tflm_firmware.build(micro, tmp_path / f"build_{target}", target, kernels, tflm)
        run = tflm_firmware.run(program, target)
        assert run["arena_size"] == ram  # the firmware ran with exactly the arena export budgeted
        used[target] = run["arena_used"]
    print(f"tfkd export RAM {ram} bytes; TFLM arena used: {used}")

    tight = (max(used.values()) - 16) // 16 * 16
    code, ram_again, _ = _export(tmp_path, tight)
    assert ram_again == ram and code == BUDGET_EXCEEDED
    neediest = max(used, key=used.get)
    program = tflm_firmware.build(micro, tmp_path / "build_tight", neediest, TARGETS[neediest], tflm, arena_size=tight)
    with pytest.raises(tflm_firmware.FirmwareError, match="AllocateTensors failed"):
        tflm_firmware.run(program, neediest)
