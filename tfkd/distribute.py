"""Several workers with TensorFlow's own ``tf.distribute``: TF_CONFIG checks and local launches.

``MultiWorkerMirroredStrategy`` reads the cluster from the ``TF_CONFIG`` environment
variable. A mistake there (bad JSON, a missing port, a task index outside the cluster)
otherwise surfaces as a gRPC hang or a C++ error far from its cause, so
``multi_worker_strategy()`` checks it first and raises one ``ValueError`` naming the
offending value.

``python -m tfkd.distribute --workers 2 SCRIPT [ARGS...]`` runs SCRIPT once per worker
on this machine, each with its own ``TF_CONFIG`` on loopback ports, and stops every
worker when one fails or on Ctrl-C. On a cluster, run the same script on every host
with that host's ``TF_CONFIG`` instead (see the README's "Scale" section).

Example:

>>> import json
>>> configs = local_cluster(2, ports=[23456, 23457])
>>> json.loads(configs[1])["task"]
{'type': 'worker', 'index': 1}
>>> parse_tf_config(configs[1])["cluster"]["worker"]
['127.0.0.1:23456', '127.0.0.1:23457']
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROLES = ("chief", "worker", "evaluator", "ps")


def parse_tf_config(text=None):
    """Checks a ``TF_CONFIG`` string (default: the environment's) and returns it as a dict.

    Raises:
        ValueError: one message naming the offending value, for any malformed part.
    """
    if text is None:
        text = os.environ.get("TF_CONFIG")
        if text is None:
            raise ValueError("TF_CONFIG is not set; multi-worker training needs it on every worker")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG={text!r} is not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG={text!r} is invalid; expected a JSON object with 'cluster' and 'task'")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG cluster={cluster!r} is invalid; expected an object like "
                         '{"worker": ["host1:port", "host2:port"]}')
    for role, addresses in cluster.items():
        if role not in ROLES:
            raise ValueError(f"TF_CONFIG cluster role {role!r} is invalid; expected one of {ROLES}")
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(f"TF_CONFIG cluster[{role!r}]={addresses!r} is invalid; expected a list of 'host:port'")
        for address in addresses:
            _check_address(address, role)
    everywhere = [a for addresses in cluster.values() for a in addresses]
    duplicates = sorted({a for a in everywhere if everywhere.count(a) > 1})
    if duplicates:
        raise ValueError(f"TF_CONFIG lists {duplicates[0]!r} more than once; every task needs its own port")
    if not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG task={task!r} is invalid; expected an object like "
                         '{"type": "worker", "index": 0}')
    role, index = task.get("type"), task.get("index")
    if role not in cluster:
        raise ValueError(f"TF_CONFIG task type {role!r} is not a role of the cluster {sorted(cluster)}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[role]):
        raise ValueError(f"TF_CONFIG task index {index!r} is invalid; the cluster has {len(cluster[role])} "
                         f"{role} task(s), so expected 0 to {len(cluster[role]) - 1}")
    return config


def _check_address(address, role):
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"TF_CONFIG cluster[{role!r}] address {address!r} is invalid; expected 'host:port' "
                         "with a port from 1 to 65535")


def multi_worker_strategy(**kwargs):
    """``tf.distribute.MultiWorkerMirroredStrategy`` after checking ``TF_CONFIG``.

    Create it first in every worker, before any other TensorFlow work, as TensorFlow requires.
    """
    parse_tf_config()
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy(**kwargs)


def is_chief(config=None):
    """True for the task that writes outputs: the chief, else worker 0, else a single process."""
    if config is None and "TF_CONFIG" not in os.environ:
        return True
    config = parse_tf_config(config if isinstance(config, str) or config is None else json.dumps(config))
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def free_ports(count):
    """``count`` TCP ports on 127.0.0.1 that were free a moment ago (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_cluster(num_workers, ports=None):
    """One ``TF_CONFIG`` string per worker of a cluster on this machine's loopback address."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers={num_workers!r} is invalid; expected an integer >= 1")
    ports = list(ports) if ports is not None else free_ports(num_workers)
    if len(ports) != num_workers:
        raise ValueError(f"ports={ports!r} is invalid; expected {num_workers} ports, one per worker")
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            for i in range(num_workers)]


@contextlib.contextmanager
def local_workers(argv, num_workers, env=None, log_dir=None, ports=None):
    """Starts ``argv`` once per worker, each in its own process group with its own ``TF_CONFIG``.

    Yields the ``subprocess.Popen`` list. On leaving the block every worker still
    running is killed with its whole process group, so no stray TensorFlow process
    outlives a test or a Ctrl-C. Output goes to ``log_dir/worker-I.log`` when given.
    """
    processes, logs = [], []
    try:
        for index, tf_config in enumerate(local_cluster(num_workers, ports)):
            worker_env = dict(os.environ if env is None else env, TF_CONFIG=tf_config)
            output = None
            if log_dir is not None:
                os.makedirs(log_dir, exist_ok=True)
                output = open(os.path.join(log_dir, f"worker-{index}.log"), "wb")
                logs.append(output)
            processes.append(subprocess.Popen(list(argv), env=worker_env, stdout=output,
                                              stderr=subprocess.STDOUT if output else None,
                                              start_new_session=True))
        yield processes
    finally:
        for process in processes:
            kill_group(process)
        for output in logs:
            output.close()


def kill_group(process, sig=signal.SIGKILL):
    """Sends ``sig`` to the process group of ``process`` (started with a new session) and reaps it.

    The group is signalled even when its leader has already exited: children the worker
    started may still be running in it.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def wait_all(processes, timeout):
    """Waits for every process; returns their exit codes. Stops early when one fails.

    Raises:
        TimeoutError: naming the workers still running after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        codes = [p.poll() for p in processes]
        if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
            return codes
        if time.monotonic() > deadline:
            running = [i for i, c in enumerate(codes) if c is None]
            raise TimeoutError(f"workers {running} still running after {timeout} s")
        time.sleep(0.2)


def main(argv=None):
    """``python -m tfkd.distribute --workers N SCRIPT [ARGS...]``: N local workers of SCRIPT."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tfkd.distribute",
                                     description="Run a training script as N workers on this machine.")
    parser.add_argument("--workers", type=int, default=2, help="number of worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds before every worker is stopped")
    parser.add_argument("script", help="Python script to run in every worker")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    options = parser.parse_args(argv)
    if options.workers < 1:
        parser.error(f"--workers={options.workers} is invalid; expected an integer >= 1")
    try:
        with local_workers([sys.executable, options.script, *options.args], options.workers) as processes:
            codes = wait_all(processes, options.timeout)
    except (TimeoutError, KeyboardInterrupt) as error:
        print(f"stopped every worker: {error or 'interrupted'}", file=sys.stderr)
        return 1
    failed = [(i, c) for i, c in enumerate(codes) if c]
    for index, code in failed:
        print(f"worker {index} exited with code {code}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
