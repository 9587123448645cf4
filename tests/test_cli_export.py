"""The deployment commands: tfkd export, tfkd c-array, tfkd inspect."""

import json

import numpy as np
import pytest
import tf_keras

import tfkd
from tfkd.cli import main
from tfkd.cli.export import BUDGET_EXCEEDED, parse_size
from tfkd.export.model_info import parse


@pytest.fixture(scope="module")
def inputs(digits, tmp_path_factory):
    """A saved, briefly trained CNN student and a small digits .npz."""
    (x, y), (x_test, y_test), names = digits
    root = tmp_path_factory.mktemp("cli")
    npz = root / "digits.npz"
    np.savez(npz, x_train=x[:300], y_train=y[:300], x_test=x_test[:100], y_test=y_test[:100],
             class_names=np.array(names))
    tf_keras.utils.set_random_seed(0)
    model = tfkd.models.cnn_student((8, 8, 1), 10)
    model.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    model_path = root / "student.keras"
    model.save(model_path)
    return root, str(model_path), str(npz)


@pytest.fixture(scope="module")
def exported(inputs):
    root, model_path, npz = inputs
    out = root / "export"
    code = main(["tfkd", "export", model_path, "--data", npz, "--out", str(out),
                 "--flash_budget", "256K", "--ram_budget", "64K", "--quiet"])
    return code, out


def _one_error_line(capsys, command):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"tfkd {command}: error: ")
    return err[0]


def test_export_writes_every_artifact(exported):
    code, out = exported
    assert code == 0
    for name in ("model_int8.tflite", "model_float_io.tflite", "labels.txt", "verification.json",
                 "micro/model_data.h", "micro/model_data.cc", "micro/model_settings.h", "micro/model_ops.h"):
        assert (out / name).is_file(), name
    assert (out / "labels.txt").read_text().splitlines() == [str(d) for d in range(10)]
    int8 = parse((out / "model_int8.tflite").read_bytes())
    float_io = parse((out / "model_float_io.tflite").read_bytes())
    assert int8.inputs[0].dtype == "int8" and float_io.inputs[0].dtype == "float32"
    report = json.loads((out / "verification.json").read_text())
    assert report["int8"]["litert_tflm_max_lsb"] <= 1
    assert report["int8"]["litert_tflm_top1_agreement"] == 1.0
    assert report["int8"]["tflite_bytes"] == int8.flatbuffer_bytes
    assert report["float_io"]["input_dtype"] == "float32"
    budgets = report["budgets"]
    assert (budgets["flash_bytes"], budgets["flash_budget"], budgets["ram_budget"]) == (
        len((out / "model_int8.tflite").read_bytes()), 256 * 1024, 64 * 1024)
    # RAM is the arena with its margin: above the measured arena, and TFLite Micro runs the model with it.
    assert budgets["ram_bytes"] > report["int8"]["arena_bytes"]
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes((out / "model_int8.tflite").read_bytes(),
                                                 arena_size=budgets["ram_bytes"])
    interpreter.set_input(np.zeros(int8.inputs[0].shape, np.int8), 0)
    interpreter.invoke()
    assert f"kTensorArenaSize = {report['budgets']['ram_bytes']};" in (out / "micro/model_settings.h").read_text()


def test_export_exceeding_a_budget_exits_non_zero(inputs, capsys):
    root, model_path, npz = inputs
    code = main(["tfkd", "export", model_path, "--data", npz, "--out", str(root / "tight"),
                 "--flash_budget", "1K", "--quiet"])
    assert code == BUDGET_EXCEEDED
    captured = capsys.readouterr()
    assert "flash (model flatbuffer)" in captured.out and "OVER budget" in captured.out
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("tfkd export: error: budget exceeded: flash") and "> 1,024 allowed" in error


@pytest.mark.parametrize("text, expected", [("65536", 65536), ("64K", 65536), ("64kb", 65536),
                                            ("1.5M", 1572864), ("256KiB", 262144)])
def test_sizes_accept_k_and_m_suffixes(text, expected):
    assert parse_size(text, "ram_budget") == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["--flash_budget", "12Q"], "--flash_budget='12Q' is not a size"),
        (["--ram_budget", "lots"], "--ram_budget='lots' is not a size"),
        (["--bogus_flag", "1"], "bogus_flag"),
    ],
)
def test_export_bad_usage_is_one_line_and_exit_2(inputs, capsys, args, message):
    root, model_path, npz = inputs
    out = root / "never"
    code = main(["tfkd", "export", model_path, "--data", npz, "--out", str(out), *args])
    assert code == 2
    assert message in _one_error_line(capsys, "export")
    assert not out.exists()


def test_export_missing_out_and_file_out_exit_2(inputs, capsys):
    root, model_path, npz = inputs
    assert main(["tfkd", "export", model_path, "--data", npz]) == 2
    assert "--out" in _one_error_line(capsys, "export")
    file_out = root / "a_file"
    file_out.write_text("x")
    assert main(["tfkd", "export", model_path, "--data", npz, "--out", str(file_out)]) == 2
    assert "is a file" in _one_error_line(capsys, "export")
    assert file_out.read_text() == "x"


def test_c_array_command(exported, tmp_path, capsys):
    _, out = exported
    target = tmp_path / "micro"
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f'digit "{d}"' for d in range(10)) + "\n")
    assert main(["tfkd", "c-array", str(out / "model_int8.tflite"), "--out", str(target),
                 "--name", "digits-net", "--labels", str(labels)]) == 0
    assert "digits_net[]" in (target / "model_data.cc").read_text()
    assert '"digit \\"3\\""' in (target / "model_settings.h").read_text()
    assert str(target / "model_ops.h") in capsys.readouterr().out


@pytest.mark.parametrize("case", ["not a flatbuffer", "float model", "missing file", "two models"])
def test_c_array_bad_input_is_one_line_and_exit_2(exported, tmp_path, capsys, case):
    _, out = exported
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"PK\x03\x04 definitely not a flatbuffer")
    args, message = {
        "not a flatbuffer": ([str(junk)], "not a TFLite flatbuffer"),
        "float model": ([str(out / "model_float_io.tflite")], "not full-int8"),
        "missing file": ([str(tmp_path / "absent.tflite")], "does not exist"),
        "two models": ([str(junk), str(junk)], "exactly one MODEL.tflite"),
    }[case]
    target = tmp_path / "micro"
    assert main(["tfkd", "c-array", *args, "--out", str(target)]) == 2
    assert message in _one_error_line(capsys, "c-array")
    assert not target.exists()


def test_inspect_command(exported, capsys):
    _, out = exported
    assert main(["tfkd", "inspect", str(out / "model_int8.tflite")]) == 0
    text = capsys.readouterr().out
    for expected in ("flatbuffer bytes", "arena bytes", "parameters", "MACs / inference", "CONV_2D", "int8",
                     "tfkd codegen: RAM", "weights: "):
        assert expected in text
    assert main(["tfkd", "inspect", "--json", "--noarena", str(out / "model_int8.tflite")]) == 0
    summary = json.loads(capsys.readouterr().out)
    weights = summary["codegen"]["weights"]
    assert weights["stored_bytes"] <= weights["dense_bytes"] and summary["codegen"]["macs"] > 0
    assert summary["ops"] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert summary["arena_bytes"] is None


def test_inspect_counts_params_and_macs_of_cnn_student(exported):
    _, out = exported
    info = parse((out / "model_int8.tflite").read_bytes())
    # conv 3x3x1->8, conv 3x3x8->16, dense 64->10, with biases.
    assert info.parameter_count == (9 * 8 + 8) + (72 * 16 + 16) + (64 * 10 + 10)
    # conv1 8x8x8 outputs x 9, pool 4x4x8 x 4, conv2 4x4x16 x 72, pool 2x2x16 x 4, dense 10 x 64.
    assert info.macs == 512 * 9 + 128 * 4 + 256 * 72 + 64 * 4 + 10 * 64


def test_inspect_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"")
    assert main(["tfkd", "inspect", str(junk)]) == 2
    assert "not a TFLite flatbuffer" in _one_error_line(capsys, "inspect")


# The dispatcher: which errors are input errors (one line, exit 2) and which are bugs (traceback).


def test_tfkd_input_errors_exit_2_and_bugs_keep_their_traceback(monkeypatch, tmp_path, capsys):
    from tfkd.cli import export as export_command
    from tfkd.errors import InputError

    model, npz, out = str(tmp_path / "m.keras"), str(tmp_path / "d.npz"), str(tmp_path / "out")
    for error, code in ((InputError("--data names nothing useful"), 2), (FileNotFoundError("no such file"), 2)):
        monkeypatch.setattr(export_command, "main", lambda fv, args, error=error: (_ for _ in ()).throw(error))
        assert main(["tfkd", "export", model, "--data", npz, "--out", out]) == code
        assert str(error).split(":")[0] in _one_error_line(capsys, "export")

    def bug(fv, args):
        return len(None)  # a TypeError from a mistake in the code

    monkeypatch.setattr(export_command, "main", bug)
    with pytest.raises(TypeError):
        main(["tfkd", "export", model, "--data", npz, "--out", out])


def test_value_errors_count_as_input_errors_only_when_tfkd_raises_them():
    from tfkd.cli import is_input_error

    def raised(function):
        try:
            function()
        except Exception as e:  # noqa: BLE001 - the exception itself is under test
            return e
        raise AssertionError("nothing raised")

    assert is_input_error(raised(lambda: tfkd.compress.quantize(tfkd.models.cnn_student((8, 8, 1), 10),
                                                                (np.zeros((4, 8, 8, 1)), np.zeros(4)), scheme="int4")))
    assert not is_input_error(raised(lambda: np.zeros(6).reshape(4, 4)))  # NumPy's own ValueError
    assert not is_input_error(raised(lambda: {}["key"]))


def test_native_log_lines_are_dropped_and_other_lines_pass(tmp_path):
    import subprocess
    import sys

    code = (
        "import os\n"
        "from tfkd.cli import _NativeLogFilter\n"
        "with _NativeLogFilter():\n"
        "    os.write(2, b'E0000 00:00:1795625580.970895    6431 cuda_platform.cc:52] failed call to cuInit\\n')\n"
        "    os.write(2, b'fully_quantize: 0, inference_type: 6, input_inference_type: INT8\\n')\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'tfkd demo: error: kept\\n')\n"
        "os.write(2, b'after the block\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["tfkd demo: error: kept", "after the block"]


def test_mnist_offline_is_one_line_naming_data_dir(monkeypatch, tmp_path, capsys):
    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -2] Name or service not known")

    monkeypatch.setattr(tf_keras.datasets.mnist, "load_data", offline)
    assert main(["tfkd", "distill", "--dataset", "mnist", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "--data_dir" in _one_error_line(capsys, "distill")
    assert not (tmp_path / "out").exists()
