"""tools/benchmark.py --quick end to end: every row of every table is produced with sane numbers."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
sys.path.insert(0, TOOLS)

from benchmarks import latency, ladder, quality, training_speed  # noqa: E402

pytestmark = pytest.mark.slow  # trains ~40 small models in a subprocess: about 1.5 min on 2 cores

SEEDS = 2  # the fewest that give a standard deviation; the quick default of 3 only adds time
LABELS_PER_CLASS = 5
SPEED_LABELS = ("plain fit (student only)", "Keras-docs style distiller (baseline)", "tfkd Distiller, online",
                "tfkd Distiller, cached teacher")
QUALITY_ROWS = [quality.TEACHER, *quality.STUDENTS]
REGIMES = tuple(f"{data}, {regime}" for data in ("digits", "iris")
                for regime in ("all labels", f"{LABELS_PER_CLASS} labels per class + the rest unlabelled"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark")
    completed = subprocess.run(
        [sys.executable, os.path.join(TOOLS, "benchmark.py"), "--quick", f"--seeds={SEEDS}",
         f"--labels_per_class={LABELS_PER_CLASS}", f"--out={out}"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(out / "benchmark.json") as f:
        results = json.load(f)
    markdown = (out / "benchmark.md").read_text()
    assert completed.stdout.strip() == markdown.strip()
    return results, markdown


def _tables(markdown):
    """``{section heading: {row label: [cells]}}`` of every markdown table, under its nearest heading."""
    tables, heading = {}, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("| ") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            tables.setdefault(heading, {})[cells[0]] = cells[1:]
    return tables


def _number(cell):
    return float(cell.replace(",", "").rstrip("x"))


def _in_unit(value):
    return 0.0 <= value <= 1.0


def test_quality_has_every_method_in_every_regime(run):
    results, markdown = run
    tables = _tables(markdown)
    for regime in REGIMES:
        for name in QUALITY_ROWS:
            row = results["quality"][regime][name]
            assert len(row["seeds"]) == SEEDS and all(_in_unit(v) for v in row["seeds"]), (regime, name)
            assert _in_unit(row["mean"]) and 0.0 <= row["std"] <= 0.5, (regime, name)
            mean, std = tables[regime][name][0].split(" ± ")
            assert _number(mean) == pytest.approx(row["mean"], abs=1e-4)
            assert _number(std) == pytest.approx(row["std"], abs=1e-4)
        for name in quality.method_names():
            gap = results["quality"][regime][name]["gap_closed"]
            assert gap is None or math.isfinite(gap), (regime, name, gap)
        recipe = results["quality"][regime][quality.RECIPE]
        assert len(recipe["chosen"]) == SEEDS and 0 <= recipe["beats_every_baseline"] <= SEEDS
        if regime.startswith("iris"):  # no image transforms on tabular data
            assert set(recipe["chosen"]) <= {"textbook", "patient"}
    assert set(results["quality"]) == set(REGIMES)
    assert results["best_method"] == quality.RECIPE


def test_ladder_has_every_stage_and_shrinks(run):
    results, markdown = run
    rows = results["ladder"]
    table = next(rows for heading, rows in _tables(markdown).items() if heading.startswith("2. Compression ladder"))
    assert list(table) == ["stage", *ladder.STAGES]
    for stage in ladder.STAGES:
        assert _in_unit(rows[stage]["accuracy"]) and _number(table[stage][0]) == pytest.approx(
            rows[stage]["accuracy"], abs=1e-4), stage
        assert rows[stage]["bytes"] > 0 and rows[stage]["macs"] > 0, stage
    teacher = rows["teacher fp32"]
    assert teacher["ratio"] == 1.0
    for stage in ladder.STAGES[1:]:
        assert rows[stage]["ratio"] > 10 and rows[stage]["macs"] < teacher["macs"], stage
    assert rows["pruned"]["sparsity"] == pytest.approx(results["settings"]["target_sparsity"], abs=0.05)
    assert rows["clustered"]["max_unique_values"] <= 16
    assert rows["int8 LiteRT"]["bytes"] < rows["student fp32"]["bytes"]
    assert rows["pruned"]["gzip_bytes"] < rows["student fp32"]["gzip_bytes"]
    assert 0 < rows["int8 TFLite Micro"]["arena_bytes"] < rows["int8 TFLite Micro"]["arena_bytes_with_margin"]
    assert rows["int8 TFLite Micro"]["litert_tflm_max_lsb"] <= 1


def test_speed_has_every_variant_and_runtime(run):
    results, markdown = run
    tables = _tables(markdown)
    training = tables["Training steps per second"]
    for variant, label in zip(training_speed.VARIANTS, SPEED_LABELS):
        rate = results["training_speed"][variant]["steps_per_second"]
        assert 0 < rate < 1e5 and _number(training[label][0]) == pytest.approx(rate, abs=0.1), variant
    assert results["training_speed"]["baseline"]["vs_baseline"] == 1.0
    inference = tables["Inference latency per sample"]
    for runtime in latency.RUNTIMES:
        seconds = results["latency"][runtime]["seconds"]
        assert 0 < seconds < 1.0 and runtime in inference, runtime
