"""MultiWorkerMirroredStrategy with real worker processes on loopback ports, CPU only.

Two workers, each with its own TF_CONFIG, distil two teachers into the reference
student with augmentation and unlabelled transfer data; tf.distribute shards every
global batch across them. The test checks that both end with the same student and
that it is as accurate as a one-process run of the same script.
"""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from multiworker_helpers import run_single, run_workers, save_teachers, script_args, weights, worker_env
from tfkd import distribute

EPOCHS = 10  # enough for the student to settle near 95%, where seeds differ by about a point


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    return save_teachers(tmp_path_factory)


def test_two_workers_train_the_same_student_as_one_process(teachers, tmp_path):
    extra = ("--epochs", EPOCHS, "--augment", "--unlabelled", 400)
    workers = run_workers(teachers, tmp_path / "two", *extra)
    single = run_single(teachers, tmp_path / "one", *extra)

    assert [w["workers"] for w in workers] == [2, 2]
    first, second = weights(tmp_path / "two", 0), weights(tmp_path / "two", 1)
    # All-reduce hands every worker the same gradient, so the replicas stay bit-identical.
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert workers[0]["accuracy"] == workers[1]["accuracy"]
    # One point on digits is within the spread of seeds of a one-process run (0.942 to 0.956 measured).
    assert abs(workers[0]["accuracy"] - single["accuracy"]) <= 0.01, (workers, single)
    assert single["accuracy"] > 0.9, single


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "is not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "cluster=None is invalid"),
    ('{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}', "expected a list"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', "'127.0.0.1' is invalid"),
    ('{"cluster": {"worker": ["h:70000"]}, "task": {"type": "worker", "index": 0}}', "'h:70000' is invalid"),
    ('{"cluster": {"boss": ["h:1"]}, "task": {"type": "boss", "index": 0}}', "role 'boss' is invalid"),
    ('{"cluster": {"worker": ["h:1", "h:1"]}, "task": {"type": "worker", "index": 0}}', "more than once"),
    ('{"cluster": {"worker": ["h:1"]}}', "task=None is invalid"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}', "expected 0 to 1"),
])
def test_malformed_tf_config_gets_one_clear_error(tf_config, message):
    with pytest.raises(ValueError, match=message):
        distribute.parse_tf_config(tf_config)


def test_multi_worker_strategy_checks_tf_config_first(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:x"]}, "task": {"type": "worker", "index": 0}}')
    with pytest.raises(ValueError, match="'127.0.0.1:x' is invalid"):
        distribute.multi_worker_strategy()
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        distribute.multi_worker_strategy()


def test_worker_with_malformed_tf_config_exits_with_one_line(tmp_path):
    env = dict(worker_env(), TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:0"]}, "task": {"type": "worker"}}')
    result = subprocess.run(script_args(["unused.keras"], tmp_path), env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: TF_CONFIG cluster['worker'] address '127.0.0.1:0' is invalid; expected 'host:port' with a port "
        "from 1 to 65535")


def test_local_cluster_gives_every_worker_its_loopback_port():
    configs = [json.loads(c) for c in distribute.local_cluster(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)
    assert distribute.is_chief(configs[0]) and not distribute.is_chief(configs[1])


def test_local_workers_stop_every_worker_and_its_children_when_one_fails(tmp_path):
    # Worker 0 fails at once; worker 1 starts a grandchild and would sleep for ten minutes.
    script = tmp_path / "worker.py"
    script.write_text(
        "import json, os, subprocess, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        f"marker = {str(tmp_path / 'grandchild')!r}\n"
        "if index == 0:\n"
        "    deadline = time.time() + 60\n"
        "    while not os.path.exists(marker) and time.time() < deadline:\n"
        "        time.sleep(0.1)\n"
        "    sys.exit(3)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(marker + '.tmp', 'w').write(str(child.pid))\n"
        "os.replace(marker + '.tmp', marker)\n"
        "time.sleep(600)\n"
    )
    with distribute.local_workers([sys.executable, str(script)], 2) as processes:
        codes = distribute.wait_all(processes, timeout=120)
        assert codes[0] == 3 and codes[1] is None
    assert processes[1].poll() is not None
    grandchild = int((tmp_path / "grandchild").read_text())
    # SIGKILL is delivered asynchronously: give the kernel a moment to finish the grandchild.
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is dead, waiting for its parent
    except FileNotFoundError:
        return False
