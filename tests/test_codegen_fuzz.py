"""A seeded subset of tools/fuzz_codegen.py: random models holding every supported operator, bit for bit."""

import importlib.util
import os
import shutil

import pytest

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "gcc")) is None, reason="no host C compiler")

_TOOL = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "fuzz_codegen.py")
SEEDS = (0,)


@pytest.fixture(scope="module")
def fuzz_codegen():
    spec = importlib.util.spec_from_file_location("fuzz_codegen", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_random_models_with_every_operator_match_tflite_micro(fuzz_codegen, per_channel):
    cases = [(seed, *fuzz_codegen.make_case("MIXED", seed, per_channel=per_channel)) for seed in SEEDS]
    assert all(fuzz_codegen.has_per_tensor_weights(case[1]) != per_channel for case in cases)
    results = fuzz_codegen.check_batch(cases)
    for result in results:
        assert "error" not in result, result
        assert result["mismatched_bytes"] == 0, result
    exercised = set().union(*(r["ops"] for r in results))
    expected = set(fuzz_codegen.DEFAULT_OPS) - {"CHAIN", "RELU", "RELU6"}
    assert expected <= exercised, f"not exercised: {sorted(expected - exercised)}"
