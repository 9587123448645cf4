"""Every command that reads a .tflite survives corrupt files: success, or exit 2 with one line.

A small valid int8 model is mutated in 120 seeded ways (bytes flipped, the file truncated, 32-bit
fields set to huge or negative values, zeroed runs), half of them aimed at the flatbuffer's tables
rather than the weight bytes. One child process per command runs every mutant through it and
reports one JSON line per mutant, so a crash of the interpreter (a segmentation fault in a native
runtime) shows as a missing report, and a hang as a timeout.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras
from tf_keras import layers

import tfkd
from tfkd.model import ModelError, read_model
from tfkd.model.schema import schema

MUTANTS = 120
SEED = 0
# Arena measurement (c-array; inspect measures the same way) and verification start native runtimes per
# mutant that parses; seeded subsets keep them fast.
SLOW_COMMAND_MUTANTS = {"c-array": 12, "verify": 40}
TIMEOUT_S = 300

_CHILD = r"""
import contextlib, io, json, sys, traceback
import numpy as np
command, out_dir, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
from tfkd import cli
cli._import_tensorflow_quietly()
import tfkd.export, tfkd.model
for i, path in enumerate(paths):
    print(json.dumps({"start": i}), flush=True)
    err, out = io.StringIO(), io.StringIO()
    report = {"mutant": i}
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            if command == "verify":
                try:
                    data = open(path, "rb").read()
                    shape = tfkd.model.read_model(data).inputs[0].shape
                    tfkd.export.verify(data, np.zeros((2, *shape[1:]), np.float32), arena_size=1 << 20)
                    report["rc"] = 0
                except ValueError as e:
                    report["rc"], report["error"] = 2, str(e)
            else:
                args = {"inspect": ["--noarena"], "codegen": ["--out", f"{out_dir}/{i}", "--nomeasure"],
                        "c-array": ["--out", f"{out_dir}/{i}"]}[command]
                report["rc"] = cli.main(["tfkd", command, path, *args])
    except BaseException:
        report["rc"], report["traceback"] = None, traceback.format_exc()
    report["stderr"] = err.getvalue()
    print(json.dumps(report), flush=True)
"""


def _structure_positions(data):
    """Byte positions outside the constant buffers' payload: the tables, vectors and strings."""
    model = schema.Model.GetRootAs(data, 0)
    payload = np.zeros(len(data), bool)
    for i in range(model.BuffersLength()):
        table = model.Buffers(i)._tab
        offset = table.Offset(4)
        if offset:
            start = table.Vector(offset)
            payload[start:start + table.VectorLen(offset)] = True
    return np.flatnonzero(~payload)


def mutate(data, rng):
    """One seeded corruption of ``data``; returns the mutated bytes and what was done."""
    data = bytearray(data)
    structure = _structure_positions(bytes(data))
    position = int(rng.choice(structure) if rng.random() < 0.5 else rng.integers(len(data)))
    kind = rng.integers(5)
    if kind == 0:
        for _ in range(rng.integers(1, 5)):
            data[int(rng.choice(structure))] ^= 1 << int(rng.integers(8))
        return bytes(data), "flip bits"
    if kind == 1:
        return bytes(data[:int(rng.integers(len(data)))]), "truncate"
    if kind == 2:
        position -= position % 4
        value = int(rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(data) * 2, len(data) - 4]))
        data[position:position + 4] = value.to_bytes(4, "little")
        return bytes(data), f"u32 at {position} = {value:#x}"
    if kind == 3:
        data[position:position + int(rng.integers(1, 64))] = bytes(min(63, len(data) - position))
        return bytes(data), "zero a run"
    data[position] = int(rng.integers(256))
    return bytes(data), "random byte"


@pytest.fixture(scope="module")
def mutants(tmp_path_factory):
    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((8, 8, 2))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    model = tf_keras.Model(inputs, layers.Dense(3)(layers.Flatten()(x)))
    rng = np.random.default_rng(SEED)
    valid = tfkd.export.to_tflite(model, rng.uniform(size=(16, 8, 8, 2)).astype(np.float32), io="int8")
    directory = tmp_path_factory.mktemp("mutants")
    paths = []
    for i in range(MUTANTS):
        data, _ = mutate(valid, rng)
        path = directory / f"m{i:03d}.tflite"
        path.write_bytes(data)
        paths.append(str(path))
    return valid, paths


def test_mutants_are_distinct_and_mostly_rejected_by_the_reader(mutants):
    valid, paths = mutants
    contents = {open(p, "rb").read() for p in paths}
    assert len(contents) >= MUTANTS * 0.9 and valid not in contents
    rejected = 0
    for path in paths:
        try:
            read_model(open(path, "rb").read())
        except ModelError:
            rejected += 1
    assert rejected >= MUTANTS // 3


@pytest.mark.parametrize("command", ["inspect", "codegen", "c-array", "verify"])
def test_command_survives_every_mutant(command, mutants, tmp_path):
    _, paths = mutants
    paths = paths[:SLOW_COMMAND_MUTANTS.get(command, MUTANTS)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", _CHILD, command, str(tmp_path), *paths],
                            capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    finished = [r for r in reports if "rc" in r]
    started = [r["start"] for r in reports if "start" in r]
    assert len(finished) == len(paths), (
        f"the child died (exit {result.returncode}) on mutant {started[-1] if started else None}: "
        f"{result.stderr[-2000:]}")
    for r in finished:
        assert "traceback" not in r, f"mutant {r['mutant']} raised: {r['traceback']}"
        assert r["rc"] in (0, 2), f"mutant {r['mutant']} exited {r['rc']}"
        if r["rc"] == 2 and command != "verify":
            lines = r["stderr"].strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"tfkd {command}: error: "), r["stderr"]
    assert any(r["rc"] == 2 for r in finished)


def test_zero_point_outside_its_type_is_a_model_error():
    import flatbuffers

    from tfkd.model import ModelError, read_model
    from tfkd.model.schema import schema

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((4,))
    tflite_bytes = tfkd.export.to_tflite(tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs)),
                                         np.random.default_rng(0).uniform(size=(8, 4)))
    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    graph = model.subgraphs[0]
    graph.tensors[graph.outputs[0]].quantization.zeroPoint = [792633534417207423]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match=r"\(int8\) has zero point 792633534417207423; expected values in \[-128, 127\]"):
        read_model(bytes(builder.Output()))
