"""tfkd.pipeline: stages run once, a rerun with the same config and inputs skips them, a change reruns what it touches."""

import dataclasses
import json
import os

import numpy as np
import pytest

import tfkd
from tfkd import pipeline as p
from tfkd import recipes

RECIPE = dataclasses.replace(recipes.FAST, teacher_epochs=1, student_epochs=1)


@pytest.fixture(scope="module")
def data():
    (x, y), (x_test, y_test), names = tfkd.data.load("digits")
    return p.given_data("digits-slice", x[:320], y[:320], x_test[:100], y_test[:100], names)


def ladder(work_dir, data, sparsity=0.5, log=None):
    """Teacher -> distilled student -> pruned -> int8 -> verified; returns the pipeline and the results."""
    lines = [] if log is None else log
    run = p.Pipeline(work_dir, log=lines.append, total=6)
    training = p.TrainConfig(RECIPE, seed=0)
    teacher = run.run(p.Teacher(training, data=data))
    student = run.run(p.Distil(training, data=data, teacher=teacher))
    pruned = run.run(p.Prune(p.Prune.Config(target_sparsity=sparsity, epochs=1), data=data, model=student,
                             teacher=teacher))
    converted = run.run(p.Convert(data=data, model=pruned))
    verified = run.run(p.Verify(data=data, converted=converted, model=pruned))
    return run, {"teacher": teacher, "student": student, "pruned": pruned, "converted": converted,
                 "verified": verified}


@pytest.fixture(scope="module")
def first_run(data, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("pipeline")
    lines = []
    run, results = ladder(work_dir, data, log=lines)
    return work_dir, run, results, lines


def test_first_run_runs_every_stage_with_one_line_each(first_run):
    work_dir, run, results, lines = first_run
    assert run.skipped == []
    assert [line.split()[1] for line in lines] == ["teacher", "student_distilled", "student_pruned", "int8", "verify"]
    assert all(" done in " in line for line in lines)
    assert lines[0].startswith("[1/6] teacher done in ")
    assert abs(results["pruned"].sparsity - 0.5) < 0.02
    assert results["converted"].int8[4:8] == b"TFL3"
    assert results["verified"].int8["litert_tflm_max_lsb"] <= 1
    # Each stage's folder holds its record and files, and no staging folder is left behind.
    assert sorted(os.listdir(work_dir)) == ["int8", "student_distilled", "student_pruned", "teacher", "verify"]
    record = json.loads((work_dir / "teacher" / "record.json").read_text())
    assert record["files"] == {"model": "model.keras"} and record["values"]["params"] == results["teacher"].params


def test_rerun_skips_every_stage_and_gives_the_same_results(first_run, data):
    work_dir, _, before, _ = first_run
    lines = []
    run, after = ladder(work_dir, data, log=lines)
    assert run.skipped == ["teacher", "student_distilled", "student_pruned", "int8", "verify"]
    assert all("unchanged, kept from the last run" in line for line in lines)
    assert after["converted"].int8 == before["converted"].int8
    assert after["pruned"].accuracy == before["pruned"].accuracy
    np.testing.assert_array_equal(after["verified"].tflm_predictions, before["verified"].tflm_predictions)
    # The models come back from their files and predict as before.
    np.testing.assert_array_equal(after["student"].model.predict(data.x_test, verbose=0),
                                  before["student"].model.predict(data.x_test, verbose=0))


def test_a_changed_config_reruns_that_stage_and_what_depends_on_it(first_run, data, tmp_path):
    work_dir, _, before, _ = first_run
    run, after = ladder(work_dir, data, sparsity=0.25)
    assert run.skipped == ["teacher", "student_distilled"]
    assert abs(after["pruned"].sparsity - 0.25) < 0.02
    assert after["converted"].fingerprint != before["converted"].fingerprint


def test_an_interrupted_run_resumes_after_the_last_finished_stage(data, tmp_path):
    class Interrupted(Exception):
        pass

    class Failing(p.Stage):
        name = "failing"
        Config = p.Convert.Config
        Result = p.Converted

        def run(self, context):
            with open(os.path.join(context.folder, "half-written"), "w") as f:
                f.write("x")
            raise Interrupted()

    run = p.Pipeline(tmp_path, log=lambda line: None)
    teacher = run.run(p.Teacher(p.TrainConfig(RECIPE), data=data))
    with pytest.raises(Interrupted):
        run.run(Failing(data=data, model=teacher))
    assert sorted(os.listdir(tmp_path)) == ["teacher"]  # nothing of the failed stage, not even its staging folder
    again = p.Pipeline(tmp_path, log=lambda line: None)
    again.run(p.Teacher(p.TrainConfig(RECIPE), data=data))
    assert again.skipped == ["teacher"]


def test_fingerprints_follow_config_and_inputs(data):
    other = p.given_data("other", data.x[:-1], data.y[:-1], data.x_test, data.y_test, data.class_names)
    base = p.Teacher(p.TrainConfig(RECIPE, seed=0), data=data).fingerprint()
    assert p.Teacher(p.TrainConfig(RECIPE, seed=0), data=data).fingerprint() == base
    assert p.Teacher(p.TrainConfig(RECIPE, seed=1), data=data).fingerprint() != base
    assert p.Teacher(p.TrainConfig(RECIPE, seed=0), data=other).fingerprint() != base
    assert p.Scratch(p.TrainConfig(RECIPE, seed=0), data=data).fingerprint() != base


def test_a_stage_refuses_another_stages_config():
    with pytest.raises(TypeError, match="Teacher takes a TrainConfig, got Config"):
        p.Teacher(p.Convert.Config())


def test_other_tfkd_code_gives_other_fingerprints(data, monkeypatch):
    from tfkd.pipeline import stage

    before = p.Teacher(p.TrainConfig(RECIPE), data=data).fingerprint()
    monkeypatch.setattr(stage, "code_fingerprint", lambda: "another tfkd")
    assert p.Teacher(p.TrainConfig(RECIPE), data=data).fingerprint() != before
