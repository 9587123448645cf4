"""Report plots: each writes a readable PNG; bad input raises a ValueError naming it."""

import matplotlib.image
import numpy as np
import pytest

import tfkd
from tfkd.report import plots

STAGES = [
    {"name": "teacher fp32", "bytes": 680_000, "accuracy": 0.99},
    {"name": "student fp32", "bytes": 8_200, "accuracy": 0.96},
    {"name": "pruned", "bytes": 3_100, "accuracy": 0.955},
    {"name": "clustered", "bytes": 2_100, "accuracy": 0.95},
    {"name": "QAT", "bytes": 8_400, "accuracy": 0.955},
    {"name": "int8", "bytes": 6_200, "accuracy": 0.953},
]


def _history(epochs, validation=True):
    history = {"accuracy": list(np.linspace(0.3, 0.9, epochs)), "loss": list(np.linspace(2.0, 0.3, epochs))}
    if validation:
        history["val_accuracy"] = [a - 0.02 for a in history["accuracy"]]
        history["val_loss"] = [v + 0.1 for v in history["loss"]]
    return history


def _check_png(path):
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    # Big enough to read, small enough for a Markdown report.
    assert 300 <= height <= 2000 and 400 <= width <= 2500, image.shape
    assert image.std() > 0.01, "picture is blank"


def test_training_curves(tmp_path):
    histories = {"teacher": _history(4), "student_scratch": _history(6), "student_distilled": _history(6, False)}
    path = plots.training_curves(histories, tmp_path / "curves.png")
    _check_png(path)


def test_accuracy_vs_size_and_pareto_front(tmp_path):
    _check_png(plots.accuracy_vs_size(STAGES, tmp_path / "pareto.png"))
    names = [STAGES[i]["name"] for i in plots.pareto_front(STAGES)]
    # QAT (larger, less accurate than student fp32) and int8 (larger, less accurate than pruned) are dominated.
    assert names == ["clustered", "pruned", "student fp32", "teacher fp32"]


def test_layer_sparsity_from_summary_and_dict(tmp_path):
    model = tfkd.models.cnn_student((8, 8, 1), 10)
    kernel = model.get_layer("conv_2").kernel
    values = kernel.numpy()
    values[..., : values.shape[-1] // 2] = 0
    kernel.assign(values)
    summary = tfkd.compress.summary(model)
    _check_png(plots.layer_sparsity(summary, tmp_path / "sparsity.png"))
    _check_png(plots.layer_sparsity(summary.to_dict(), tmp_path / "sparsity_dict.png"))


def test_confusion_matrix(tmp_path):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 200)
    y_pred = np.where(rng.random(200) < 0.9, y_true, rng.integers(0, 10, 200))
    _check_png(plots.confusion_matrix(y_true, y_pred, [str(i) for i in range(10)], tmp_path / "cm.png"))


def test_soft_targets(tmp_path):
    logits = np.array([1.0, 0.5, 9.0, 2.0, -1.0, 0.0, 3.0, 1.0, -2.0, 4.0])
    _check_png(plots.soft_targets(logits, [1, 4, 8], [str(i) for i in range(10)], tmp_path / "soft.png"))
    high_t = plots.softmax_with_temperature(logits, 8.0)
    assert np.isclose(high_t.sum(), 1.0) and high_t.max() < plots.softmax_with_temperature(logits, 1.0).max()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: plots.accuracy_vs_size([], p), "stages"),
        (lambda p: plots.accuracy_vs_size([{"name": "a", "bytes": 0, "accuracy": 0.5}], p), "bytes"),
        (lambda p: plots.accuracy_vs_size([{"name": "a", "bytes": 10, "accuracy": 95.0}], p), "accuracy"),
        (lambda p: plots.training_curves({}, p), "histories"),
        (lambda p: plots.training_curves({"teacher": {"accuracy": [0.5, 0.6], "loss": [1.0]}}, p), "'loss'"),
        (lambda p: plots.training_curves({"teacher": {"accuracy": [0.5], "loss": [1], "val_loss": [1, 2]}}, p),
         "val_loss"),
        (lambda p: plots.confusion_matrix([0, 1, 1], [0, 1], ["a", "b"], p), "y_pred has 2"),
        (lambda p: plots.confusion_matrix([0, 2], [0, 1], ["a", "b"], p), "y_true"),
        (lambda p: plots.soft_targets([1.0, 2.0, 3.0], [1, 2], ["a", "b"], p), "class_names has 2"),
        (lambda p: plots.soft_targets([1.0, 2.0], [0], ["a", "b"], p), "temperature 0"),
        (lambda p: plots.layer_sparsity({"model": "m", "layers": []}, p), "no kernels"),
    ],
)
def test_bad_input_raises_and_writes_nothing(tmp_path, call, message):
    path = tmp_path / "plot.png"
    with pytest.raises(ValueError, match=message):
        call(path)
    assert not path.exists()
