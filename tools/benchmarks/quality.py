"""Distillation quality: test accuracy of each method over seeds, and the gap it closes.

Every method trains the same reference student with the same recipe (epochs, batch size,
learning rate, alpha) as the from-scratch baseline; only the teacher's terms differ. The
teacher is trained on the whole labelled training split. In the few-labels regime the
students see only ``labels_per_class`` labelled samples per class (drawn per seed) while
the teacher keeps its full training: the setting where soft targets carry the most
information the labels do not.
"""

import dataclasses

import numpy as np
import tf_keras

import tfkd
from tfkd import models, recipes

TEACHER, SECOND_TEACHER, SCRATCH = "teacher", "second teacher", "student from scratch"


def _methods(recipe):
    """Distiller arguments (and fit callbacks) of each distillation method, by row label."""
    return {
        "SoftTarget T=2": dict(temperature=2.0),
        "SoftTarget T=4": dict(temperature=4.0),
        "DKD": dict(distillation_loss=tfkd.losses.DKD(target_weight=1.0, non_target_weight=8.0)),
        "FeatureHint": dict(feature_losses=[tfkd.losses.FeatureHint([("features_4", "features_2")])]),
        "AttentionTransfer": dict(feature_losses=[tfkd.losses.AttentionTransfer([("features_2", "features_1")])]),
        "uncertainty weighting": dict(loss_weighting="uncertainty"),
        "alpha schedule 0.1->0.5": dict(
            callbacks=[tfkd.callbacks.LinearSchedule("alpha", 0.1, 0.5, epochs=recipe.student_epochs)]
        ),
        "two teachers": dict(second_teacher=True),
    }


def method_names():
    """Row labels of the distillation methods, in table order."""
    return list(_methods(recipes.FULL))


def _distil(teachers, x, y, num_classes, recipe, seed, second_teacher=False, **kwargs):
    teacher = list(teachers) if second_teacher else teachers[0]
    distiller, _ = recipes.distil(teacher, x, y, num_classes, recipe, seed, **kwargs)
    return distiller.student


def labelled_subset(y, labels_per_class, seed):
    """Indices of ``labels_per_class`` samples of every class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    short = [int(c) for c in classes if np.sum(y == c) < labels_per_class]
    if short:
        raise ValueError(f"labels_per_class={labels_per_class} exceeds the samples of classes {short}")
    return np.sort(np.concatenate([rng.choice(np.where(y == c)[0], labels_per_class, replace=False)
                                   for c in classes]))


def train_teachers(x, y, num_classes, settings, seed):
    """The reference teacher and a second, narrower teacher (another seed) for the two-teacher method."""
    teacher, _ = recipes.train_teacher(x, y, num_classes, settings.recipe, seed)
    tf_keras.utils.set_random_seed(seed + 1000)
    second = models.cnn_teacher(x.shape[1:], num_classes, width=settings.second_teacher_width,
                                name="second_teacher")
    second.compile(tf_keras.optimizers.Adam(settings.recipe.teacher_learning_rate), recipes.hard_loss(),
                   ["accuracy"])
    second.fit(x, y, epochs=settings.recipe.teacher_epochs, batch_size=settings.recipe.batch_size, verbose=0)
    return teacher, second


def run_seed(teachers, x, y, x_test, y_test, num_classes, settings, seed, log):
    """Test accuracy of scratch and of every method for one seed; also returns the trained students."""
    recipe = settings.recipe
    scratch, _ = recipes.train_scratch(x, y, num_classes, recipe, seed)
    accuracies = {SCRATCH: recipes.accuracy(scratch, x_test, y_test)}
    students = {}
    for name, kwargs in _methods(recipe).items():
        students[name] = _distil(teachers, x, y, num_classes, recipe, seed, **kwargs)
        accuracies[name] = recipes.accuracy(students[name], x_test, y_test)
        log(f"  seed {seed} {name}: {accuracies[name]:.4f} (scratch {accuracies[SCRATCH]:.4f})")
    return accuracies, students


def summarise(per_seed):
    """Mean, std (population) and per-seed values of each row, plus the gap each method closes.

    The gap closed is (distilled - scratch) / (teacher - scratch) on the seed means: per-seed
    denominators are a point or two on digits and make per-seed ratios noisy.
    """
    rows = {}
    for name in per_seed[0]:
        values = [accuracies[name] for accuracies in per_seed]
        rows[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "seeds": values}
    teacher, scratch = rows[TEACHER]["mean"], rows[SCRATCH]["mean"]
    for name in method_names():
        gap = teacher - scratch
        rows[name]["gap_closed"] = (rows[name]["mean"] - scratch) / gap if gap > 0 else None
    return rows


@dataclasses.dataclass
class QualityResult:
    """Per regime rows; the seed-0 teachers and students feed the ladder and speed sections."""

    regimes: dict
    teachers: tuple
    students: dict


def run(x, y, x_test, y_test, num_classes, settings, seeds, labels_per_class, log=print):
    """Both regimes over ``seeds``: all labels, and ``labels_per_class`` labels (skipped when 0)."""
    regimes = ["all labels"] + ([f"{labels_per_class} labels per class"] if labels_per_class else [])
    per_seed = {regime: [] for regime in regimes}
    for seed in range(seeds):
        teachers = train_teachers(x, y, num_classes, settings, seed)
        teacher_accuracies = {TEACHER: recipes.accuracy(teachers[0], x_test, y_test),
                              SECOND_TEACHER: recipes.accuracy(teachers[1], x_test, y_test)}
        log(f"seed {seed}: teacher {teacher_accuracies[TEACHER]:.4f}, "
            f"second teacher {teacher_accuracies[SECOND_TEACHER]:.4f}")
        for regime in regimes:
            index = slice(None) if regime == "all labels" else labelled_subset(y, labels_per_class, seed)
            accuracies, students = run_seed(teachers, x[index], y[index], x_test, y_test, num_classes,
                                            settings, seed, log)
            per_seed[regime].append({**teacher_accuracies, **accuracies})
            if seed == 0 and regime == "all labels":
                seed0_teachers, seed0_students = teachers, students
    return QualityResult(regimes={regime: summarise(rows) for regime, rows in per_seed.items()},
                         teachers=seed0_teachers, students=seed0_students)
