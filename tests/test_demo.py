"""``tfkd demo --fast``: every artifact of the contract, consistent numbers, the same seed gives the same report."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

CONTRACT_KEYS = {
    "dataset": ["name", "train_samples", "test_samples", "classes"],
    "teacher": ["accuracy", "params", "fp32_bytes"],
    "student_scratch": ["accuracy", "params"],
    "student_scratch_augmented": ["accuracy"],
    "student_distilled_textbook": ["accuracy"],
    "student_distilled": ["accuracy", "params"],
    "student_pruned": ["accuracy", "sparsity"],
    "student_qat": ["accuracy"],
    "int8": ["tflite_bytes", "litert_accuracy", "tflm_accuracy", "litert_tflm_max_lsb",
             "litert_tflm_top1_agreement", "arena_bytes", "ops"],
}
ARTIFACTS = [
    "report.json", "report.md", "teacher.keras", "student.keras", "model_int8.tflite", "model_float_io.tflite",
    "labels.txt", "micro/model_data.h", "micro/model_data.cc", "micro/model_settings.h", "micro/model_ops.h",
]


def run_demo(out, *extra):
    return subprocess.run([sys.executable, "-m", "tfkd", "demo", "--fast", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = run_demo(out)
    assert result.returncode == 0, result.stderr[-3000:]
    stage_lines = [line for line in result.stdout.splitlines() if re.match(r"\[\s*\d+/\d+\] \S+ done in", line)]
    assert len(stage_lines) == 15, result.stdout
    assert "int8 on TFLite Micro" in result.stdout
    return out


def test_every_contract_artifact_exists(demo_dir):
    for name in ARTIFACTS:
        assert (demo_dir / name).is_file(), name
    assert list((demo_dir / "plots").glob("*.png"))
    assert (demo_dir / "labels.txt").read_text().split() == [str(d) for d in range(10)]


def test_report_has_contract_keys_with_sane_values(demo_dir):
    report = json.loads((demo_dir / "report.json").read_text())
    for section, keys in CONTRACT_KEYS.items():
        for key in keys:
            assert key in report[section], f"{section}.{key}"
    for section in ("teacher", "student_scratch", "student_scratch_augmented", "student_distilled_textbook",
                    "student_distilled", "student_pruned", "student_qat"):
        assert 0.0 <= report[section]["accuracy"] <= 1.0
    assert report["teacher"]["accuracy"] > 0.9
    assert report["teacher"]["fp32_bytes"] == 4 * report["teacher"]["params"]
    # 50% in every pruned kernel; the small first convolution stays dense
    assert 0.45 <= report["student_pruned"]["sparsity"] <= 0.5
    assert report["student_pruned"]["excluded_layers"] == ["conv_1"]
    int8 = report["int8"]
    assert int8["tflite_bytes"] == os.path.getsize(demo_dir / "model_int8.tflite")
    assert int8["litert_tflm_max_lsb"] <= 1 and int8["litert_tflm_top1_agreement"] == 1.0
    assert abs(int8["tflm_accuracy"] - report["student_qat"]["accuracy"]) <= 0.01
    assert "CONV_2D" in int8["ops"] and "FULLY_CONNECTED" in int8["ops"]
    assert set(report["timings_s"]) >= {"teacher", "student_distilled", "student_pruned", "student_qat", "verify"}
    assert report["dataset"]["train_samples"] == 1347 and report["dataset"]["classes"] == 10


def test_distilled_student_beats_both_scratch_baselines_and_int8_keeps_it(demo_dir):
    report = json.loads((demo_dir / "report.json").read_text())
    distilled = report["student_distilled"]["accuracy"]
    assert distilled > report["student_scratch"]["accuracy"]
    assert distilled > report["student_scratch_augmented"]["accuracy"]
    chosen = report["student_distilled"]["recipe"]
    assert chosen["requested"] == "auto" and chosen["name"] in chosen["held_out_accuracy"]
    assert report["student_scratch_augmented"]["augment"] == chosen["augment"]
    assert report["student_scratch_augmented"]["epochs"] == chosen["epochs"]
    assert distilled - report["int8"]["tflm_accuracy"] <= 0.01
    markdown = (demo_dir / "report.md").read_text()
    assert "same augmentation and epochs" in markdown and "textbook settings" in markdown


def test_c_array_is_byte_identical_to_the_int8_model(demo_dir):
    source = (demo_dir / "micro" / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model[]" in source
    body = source[source.index("g_model[]"):]
    body = body[body.index("{") + 1 : body.index("}")]
    data = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", body))
    assert data == (demo_dir / "model_int8.tflite").read_bytes()
    settings = (demo_dir / "micro" / "model_settings.h").read_text()
    arena = int(re.search(r"kTensorArenaSize\s*=\s*(\d+)", settings).group(1))
    report = json.loads((demo_dir / "report.json").read_text())
    assert arena == report["int8"]["arena_bytes_with_margin"] > report["int8"]["arena_bytes"]
    assert f"kTensorArenaMeasured = {report['int8']['arena_bytes']};" in settings
    assert report["int8"]["arena_bytes"] == report["codegen"]["tflm_arena_bytes"]


def test_same_seed_same_numbers_and_rerun_over_existing_dir(demo_dir):
    first = json.loads((demo_dir / "report.json").read_text())
    result = run_demo(demo_dir, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    second = json.loads((demo_dir / "report.json").read_text())
    for report in (first, second):
        report.pop("timings_s")
        report.get("codegen", {}).pop("method", None)
    assert first == second
    np.testing.assert_equal(len(result.stdout.splitlines()) > 3, True)


def test_failure_leaves_the_output_directory_as_it_was(demo_dir):
    before = {p: p.read_bytes() for p in demo_dir.rglob("*") if p.is_file()}
    result = run_demo(demo_dir, "--dataset", "no-such-dataset")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    after = {p: p.read_bytes() for p in demo_dir.rglob("*") if p.is_file()}
    assert before == after
