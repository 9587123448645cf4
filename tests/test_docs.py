"""The README's Distiller example and the docstring examples run exactly as written."""

import doctest
import importlib
import re

import pytest

README = "README.md"
DOCTESTED_MODULES = ["tfkd.callbacks", "tfkd.data", "tfkd.distiller", "tfkd.losses.soft_target", "tfkd.models"]


def test_readme_distiller_example_runs(tmp_path, monkeypatch):
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], README, "exec"), namespace)
    assert "student_loss" in namespace["history"].history
    assert (tmp_path / "student.keras").exists()


@pytest.mark.parametrize("module_name", DOCTESTED_MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
