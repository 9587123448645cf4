"""The README's Distiller example and the docstring examples run exactly as written."""

import doctest
import importlib
import re

import pytest

README = "README.md"
DOCTESTED_MODULES = ["tfkd.augment", "tfkd.c_writer", "tfkd.callbacks", "tfkd.data", "tfkd.distiller",
                     "tfkd.distribute", "tfkd.losses.soft_target", "tfkd.models", "tfkd.pipeline",
                     "tfkd.teacher_cache"]


def test_readme_distiller_example_runs(tmp_path, monkeypatch):
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], README, "exec"), namespace)
    assert "student_loss" in namespace["history"].history
    assert (tmp_path / "student.keras").exists()


def test_readme_pipeline_example_runs_and_resumes(tmp_path, monkeypatch, capsys):
    text = open(README, encoding="utf-8").read()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "pipeline as p" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, README, "exec"), namespace)
    assert namespace["converted"].int8[4:8] == b"TFL3"
    assert 0.5 < namespace["verified"].int8["tflm_accuracy"] <= 1.0
    again = {}
    exec(compile(block, README, "exec"), again)
    assert again["run"].skipped == ["teacher", "student_distilled", "student_pruned", "int8", "verify"]


@pytest.mark.parametrize("module_name", DOCTESTED_MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0


def _readme_number(pattern):
    match = re.search(pattern, open(README, encoding="utf-8").read(), flags=re.S)
    assert match, pattern
    return float(match.group(1).replace(",", ""))


def test_readme_figures_match_the_code():
    """The README's model sizes are what tfkd.models builds, and its ratios follow from its byte counts."""
    import tfkd

    teacher = tfkd.models.cnn_teacher((8, 8, 1), num_classes=10)
    student = tfkd.models.cnn_student((8, 8, 1), num_classes=10)
    assert _readme_number(r"cnn_teacher`, ([\d,]+) parameters") == teacher.count_params()
    assert _readme_number(r"parameters, ([\d,]+)\s+bytes of float32 weights") == 4 * teacher.count_params()
    assert _readme_number(r"cnn_student`, ([\d,]+) parameters") == student.count_params()
    assert _readme_number(r"cnn_student`, [\d,]+ parameters,\s+([\d,]+) bytes") == 4 * student.count_params()
    int8_bytes = _readme_number(r"int8 flatbuffer holds ([\d,]+) bytes")
    assert _readme_number(r"([\d.]+)x smaller than the teacher's") == round(4 * teacher.count_params() / int8_bytes)
    assert _readme_number(r"only ([\d.]+)x smaller than the student's") == round(
        4 * student.count_params() / int8_bytes, 1)
