"""Report plots: each function draws one figure headlessly and writes it as a PNG.

matplotlib runs on the Agg backend (no display needed: servers, CI, Colab kernels).
Every PNG is written atomically through :mod:`tfkd.files`, so a failure never leaves
a truncated picture behind. Each function returns the path it wrote.
"""

import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfkd.files import atomic_write_bytes  # noqa: E402

DPI = 120
# Model keys of training_curves, in the order they are drawn, with their legend names.
CURVE_LABELS = {
    "teacher": "teacher",
    "student_scratch": "student from scratch",
    "student_scratch_augmented": "scratch, same augmentation",
    "student_distilled_textbook": "distilled, textbook",
    "student_distilled": "distilled, tfkd recipe",
}
_COLORS = plt.get_cmap("tab10").colors


def _save(figure, path):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


def training_curves(histories, path):
    """Accuracy and loss against epoch for each model in ``histories``.

    ``histories``: ``{model name: History.history}``, e.g. keys ``teacher``,
    ``student_scratch``, ``student_distilled`` (others are drawn under their own name).
    Each dict needs ``accuracy`` and ``loss`` lists of equal length; ``val_accuracy`` and
    ``val_loss`` are drawn dashed when present.
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError(f"histories={histories!r} is invalid; expected a non-empty dict of model name -> History.history")
    for name, history in histories.items():
        if not isinstance(history, dict):
            raise ValueError(f"histories[{name!r}] is {type(history).__name__}; expected a History.history dict")
        for key in ("accuracy", "loss"):
            if not history.get(key):
                raise ValueError(f"histories[{name!r}] has no {key!r} values; expected one per epoch")
        epochs = len(history["accuracy"])
        for key, values in history.items():
            if key in ("accuracy", "loss", "val_accuracy", "val_loss") and len(values) != epochs:
                raise ValueError(
                    f"histories[{name!r}][{key!r}] has {len(values)} values but 'accuracy' has {epochs}; "
                    "expected one value per epoch in each"
                )

    figure, (acc_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (name, history) in enumerate(histories.items()):
        color = _COLORS[index % len(_COLORS)]
        label = CURVE_LABELS.get(name, name)
        for axis, key in ((acc_axis, "accuracy"), (loss_axis, "loss")):
            epochs = np.arange(1, len(history[key]) + 1)
            axis.plot(epochs, history[key], color=color, label=f"{label} (train)")
            if history.get("val_" + key):
                axis.plot(epochs, history["val_" + key], color=color, linestyle="--", label=f"{label} (validation)")
    acc_axis.set(title="Accuracy per epoch", xlabel="epoch", ylabel="top-1 accuracy (fraction)")
    loss_axis.set(title="Training loss per epoch", xlabel="epoch", ylabel="loss (lower is better)")
    # The distiller's 'loss' mixes hard-label and distillation terms, so its scale differs
    # from the plain cross-entropy of the other models: say so where the reader looks.
    if "student_distilled" in histories:
        loss_axis.set_title("Training loss per epoch\n(distilled: alpha*hard + (1-alpha)*distillation)", fontsize=10)
    for axis in (acc_axis, loss_axis):
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    acc_axis.legend(fontsize=8, loc="lower right")
    figure.suptitle("Training curves")
    figure.tight_layout()
    return _save(figure, path)


def _format_bytes(value):
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if value >= size:
            amount = value / size
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{value:.0f} B"


# Label positions tried around a point, in points: right, left, above, below, further out.
_LABEL_OFFSETS = ((8, 4, "left"), (-8, 4, "right"), (8, -22, "left"), (-8, -22, "right"),
                  (8, 20, "left"), (-8, 20, "right"), (8, -38, "left"), (-8, -38, "right"))


def _label_points(figure, axis, xs, ys, texts):
    """Writes each text next to its point at the first offset that overlaps no label or point drawn so far."""
    renderer = figure.canvas.get_renderer()
    points = [axis.transData.transform((x, y)) for x, y in zip(xs, ys)]
    taken = []
    for index in np.argsort(-np.asarray(ys)):
        for dx, dy, align in _LABEL_OFFSETS:
            label = axis.annotate(texts[index], (xs[index], ys[index]), textcoords="offset points",
                                  xytext=(dx, dy), ha=align, fontsize=8,
                                  arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.6})
            box = label.get_window_extent(renderer).expanded(1.05, 1.1)
            clash = any(box.overlaps(other) for other in taken) or any(
                box.contains(px, py) for j, (px, py) in enumerate(points) if j != index)
            if not clash or (dx, dy, align) == _LABEL_OFFSETS[-1]:
                taken.append(box)
                break
            label.remove()


def pareto_front(stages):
    """Indices of the stages no other stage beats: none is both no larger and no less accurate
    while strictly better in one of the two. Sorted by size."""
    front = []
    for i, a in enumerate(stages):
        dominated = any(
            b["bytes"] <= a["bytes"] and b["accuracy"] >= a["accuracy"]
            and (b["bytes"] < a["bytes"] or b["accuracy"] > a["accuracy"])
            for j, b in enumerate(stages) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: stages[i]["bytes"])


def accuracy_vs_size(stages, path):
    """Accuracy against model size for every stage, size on a log axis, Pareto front marked.

    ``stages``: a list of ``{"name": str, "bytes": int > 0, "accuracy": float in [0, 1]}``
    (e.g. teacher fp32, student fp32, pruned, clustered, QAT, int8).
    """
    if not isinstance(stages, (list, tuple)) or not stages:
        raise ValueError(f"stages={stages!r} is invalid; expected a non-empty list of {{name, bytes, accuracy}} dicts")
    for index, stage in enumerate(stages):
        if not isinstance(stage, dict) or not {"name", "bytes", "accuracy"} <= set(stage):
            raise ValueError(f"stages[{index}]={stage!r} is invalid; expected a dict with name, bytes and accuracy")
        if not stage["bytes"] or stage["bytes"] <= 0:
            raise ValueError(f"stages[{index}]['bytes']={stage['bytes']!r} is invalid; expected a positive byte count")
        accuracy = stage["accuracy"]
        if accuracy is None or not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"stages[{index}]['accuracy']={accuracy!r} is invalid; expected a fraction in [0, 1]")

    front = pareto_front(stages)
    figure, axis = plt.subplots(figsize=(8, 5))
    sizes = np.array([s["bytes"] for s in stages], dtype=float)
    accuracies = np.array([s["accuracy"] for s in stages], dtype=float) * 100
    axis.plot(sizes[front], accuracies[front], color="tab:red", linewidth=1.5, zorder=1, label="Pareto front")
    on_front = np.isin(np.arange(len(stages)), front)
    axis.scatter(sizes[on_front], accuracies[on_front], s=70, color="tab:red", zorder=2, label="on the front")
    axis.scatter(sizes[~on_front], accuracies[~on_front], s=70, facecolors="white", edgecolors="tab:gray",
                 zorder=2, label="dominated")
    axis.set_xscale("log")
    low, high = sizes.min(), sizes.max()
    # Room on both sides for the labels, which may extend either side of their points.
    axis.set_xlim(low / 3, high * 4)
    spread = max(accuracies.max() - accuracies.min(), 1.0)
    axis.set_ylim(accuracies.min() - 0.4 * spread, accuracies.max() + 0.4 * spread)
    first, last = int(math.floor(math.log2(low / 3))), int(math.ceil(math.log2(high * 4)))
    step = max(1, math.ceil((last - first) / 10))  # at most about ten size ticks
    ticks = [2.0 ** k for k in range(first, last + 1, step)]
    axis.set_xticks(ticks)
    axis.set_xticklabels([_format_bytes(t) for t in ticks], rotation=45, ha="right", fontsize=8)
    axis.minorticks_off()
    _label_points(figure, axis, sizes, accuracies,
                  [f"{s['name']}\n{_format_bytes(s['bytes'])}, {a:.1f}%" for s, a in zip(stages, accuracies)])
    axis.set(title="Accuracy versus model size per stage", xlabel="model size (bytes, log scale)",
             ylabel="test accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return _save(figure, path)


def layer_sparsity(summary, path):
    """Fraction of zero weights per kernel, one bar per layer, with the overall sparsity.

    ``summary``: ``tfkd.compress.summary(model)`` or its ``to_dict()``.
    """
    data = summary.to_dict() if hasattr(summary, "to_dict") else summary
    if not isinstance(data, dict) or "layers" not in data:
        raise ValueError(f"summary={summary!r} is invalid; expected tfkd.compress.summary(model) or its to_dict()")
    rows = data["layers"]
    if not rows:
        raise ValueError(f"summary of model {data.get('model')!r} has no kernels; nothing to plot")
    # Layers with several kernels (e.g. depthwise + pointwise) get one bar per kernel.
    counts = {}
    for row in rows:
        counts[row["layer"]] = counts.get(row["layer"], 0) + 1
    names = [row["layer"] if counts[row["layer"]] == 1 else f"{row['layer']}/{row['weight']}" for row in rows]
    sparsity = np.array([row["sparsity"] for row in rows]) * 100

    figure, axis = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4.5))
    bars = axis.bar(names, sparsity, color="tab:blue")
    for bar, row in zip(bars, rows):
        axis.annotate(f"{row['sparsity']:.0%}\n{row['nonzero']:,}/{row['params']:,}",
                      (bar.get_x() + bar.get_width() / 2, bar.get_height()), textcoords="offset points",
                      xytext=(0, 3), ha="center", fontsize=8)
    overall = data.get("sparsity", float(1 - sum(r["nonzero"] for r in rows) / sum(r["params"] for r in rows)))
    axis.axhline(overall * 100, color="tab:red", linestyle="--", label=f"all kernels: {overall:.1%} zeros")
    axis.set_ylim(0, 118)
    axis.set(title=f"Zero weights per layer ({data.get('model', 'model')}); labels: nonzero/total",
             xlabel="layer (kernel)", ylabel="zero weights (% of kernel)")
    axis.tick_params(axis="x", rotation=30)
    axis.legend(fontsize=8, loc="upper right")
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def confusion_matrix(y_true, y_pred, class_names, path, title="Confusion matrix of the int8 model"):
    """Counts of (true class, predicted class) with each cell's count written in it."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; expected equal lengths")
    if len(y_true) == 0:
        raise ValueError("y_true is empty; expected at least one label")
    names = [str(n) for n in class_names]
    classes = len(names)
    if classes < 2:
        raise ValueError(f"class_names={class_names!r} is invalid; expected at least two classes")
    for label, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= classes:
            raise ValueError(
                f"{label} holds values outside 0..{classes - 1} (min {values.min()}, max {values.max()}); "
                f"expected integer class indices for the {classes} class_names"
            )
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)

    side = max(4.5, 0.55 * classes + 2.5)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="samples")
    threshold = counts.max() / 2
    for i in range(classes):
        for j in range(classes):
            if counts[i, j] or i == j:
                axis.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8 if classes <= 20 else 6,
                          color="white" if counts[i, j] > threshold else "black")
    long_names = max(map(len, names)) > 2  # slant long names so that neighbours do not overlap
    axis.set_xticks(range(classes), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    axis.set_yticks(range(classes), names)
    accuracy = float(np.trace(counts)) / len(y_true)
    axis.set(title=f"{title}\n{len(y_true)} test samples, accuracy {accuracy:.1%}",
             xlabel="predicted class", ylabel="true class")
    figure.tight_layout()
    return _save(figure, path)


def softmax_with_temperature(logits, temperature):
    """``softmax(logits / temperature)``, computed stably."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max()
    e = np.exp(scaled)
    return e / e.sum()


def soft_targets(teacher_logits_row, temperatures, class_names, path):
    """The teacher's softened distribution over classes for one sample at each temperature.

    Higher temperatures flatten the distribution and expose how the teacher ranks the
    wrong classes (the "dark knowledge" the student learns from).
    """
    logits = np.asarray(teacher_logits_row, dtype=np.float64).reshape(-1)
    names = [str(n) for n in class_names]
    if logits.size < 2:
        raise ValueError(f"teacher_logits_row has {logits.size} values; expected one logit per class (at least 2)")
    if len(names) != logits.size:
        raise ValueError(f"class_names has {len(names)} names but teacher_logits_row has {logits.size} logits; "
                         "expected one name per logit")
    temperatures = list(temperatures)
    if not temperatures:
        raise ValueError("temperatures is empty; expected at least one positive temperature")
    for t in temperatures:
        if not isinstance(t, (int, float)) or not t > 0:
            raise ValueError(f"temperature {t!r} is invalid; expected a positive number")

    figure, axis = plt.subplots(figsize=(max(7, 0.6 * len(names) + 3), 4.5))
    width = 0.8 / len(temperatures)
    positions = np.arange(len(names))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(temperatures)))
    for index, (t, color) in enumerate(zip(temperatures, colors)):
        probabilities = softmax_with_temperature(logits, t)
        axis.bar(positions + (index - (len(temperatures) - 1) / 2) * width, probabilities, width,
                 color=color, label=f"T = {t:g}")
    axis.set_xticks(positions, names)
    axis.set_ylim(0, 1.05)
    axis.set(title=f"Teacher's soft targets for one sample (top class: {names[int(np.argmax(logits))]})",
             xlabel="class", ylabel="probability softmax(logits / T)")
    axis.legend(title="temperature", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)
