"""Distillation quality: test accuracy of each training method over seeds, and the gap it closes.

Regimes, each with its own teacher (trained on the whole labelled training split, per seed):

- images (digits) with all labels;
- images with ``labels_per_class`` labels per class, the other training images unlabelled;
- tabular (Iris), the same two regimes: mixup and unlabelled inputs only, no image transforms.

Rows, every one trained in the same run on the same labelled samples with the same reference
student: scratch; scratch with the tfkd recipe's image transforms, epochs and schedule; the
Keras documentation's distiller (``training_speed.KerasDocsDistiller``, textbook Hinton, the
textbook epochs); ``tfkd.Distiller`` with its defaults (unlabelled inputs through
``fit(unlabelled=)`` where there are any); and ``tfkd.distil(recipe="auto")``.
"""

import dataclasses

import numpy as np
import tf_keras

import tfkd
from benchmarks.training_speed import KerasDocsDistiller
from tfkd import recipes

TEACHER = "teacher"
SCRATCH = "scratch"
SCRATCH_AUGMENTED = "scratch, same augmentation and epochs"
TEXTBOOK = "textbook distiller (Keras docs)"
DEFAULTS = "tfkd Distiller, defaults"
RECIPE = "tfkd recipe (auto)"
STUDENTS = (SCRATCH, SCRATCH_AUGMENTED, TEXTBOOK, DEFAULTS, RECIPE)


def method_names():
    """Rows compared against scratch (they get a gap closed), in table order."""
    return list(STUDENTS[1:])


def labelled_subset(y, labels_per_class, seed):
    """Indices of ``labels_per_class`` samples of every class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    short = [int(c) for c in classes if np.sum(y == c) < labels_per_class]
    if short:
        raise ValueError(f"labels_per_class={labels_per_class} exceeds the samples of classes {short}")
    return np.sort(np.concatenate([rng.choice(np.where(y == c)[0], labels_per_class, replace=False)
                                   for c in classes]))


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    recipe: recipes.Recipe


def _textbook(teacher, x, y, num_classes, recipe, seed):
    tf_keras.utils.set_random_seed(seed)
    model = KerasDocsDistiller(tfkd.models.for_data(x, num_classes, "student"), teacher,
                               alpha=recipe.alpha, temperature=recipe.temperature)
    model.compile(optimizer=tf_keras.optimizers.Adam(recipe.student_learning_rate), metrics=["accuracy"])
    model.fit(x, y, epochs=recipe.student_epochs, batch_size=recipe.batch_size, verbose=0)
    return model.student


def _defaults(teacher, x, y, unlabelled, num_classes, recipe, seed):
    tf_keras.utils.set_random_seed(seed)
    distiller = tfkd.Distiller(student=tfkd.models.for_data(x, num_classes, "student"), teacher=teacher)
    distiller.compile(tf_keras.optimizers.Adam(recipe.student_learning_rate), recipes.hard_loss(), ["accuracy"])
    distiller.fit(x, y, unlabelled=unlabelled, epochs=recipe.student_epochs, batch_size=recipe.batch_size, verbose=0)
    return distiller.student


def run_regime(teacher, data, index, seed, log):
    """Test accuracy of every row for the labelled samples ``index`` (the rest unlabelled, if any)."""
    recipe = data.recipe
    x, y = data.x[index], data.y[index]
    rest = np.setdiff1d(np.arange(len(data.y)), index)
    unlabelled = data.x[rest] if len(rest) else None
    students = {}
    students[SCRATCH], _ = recipes.train_scratch(x, y, data.num_classes, recipe, seed)
    distiller, history = recipes.distil_with_recipe(teacher, x, y, data.num_classes, recipe, seed,
                                                    unlabelled=unlabelled, name="auto")
    students[RECIPE] = distiller.student
    students[SCRATCH_AUGMENTED], _ = recipes.train_scratch_augmented(x, y, data.num_classes, recipe, seed,
                                                                     history.recipe)
    students[TEXTBOOK] = _textbook(teacher, x, y, data.num_classes, recipe, seed)
    students[DEFAULTS] = _defaults(teacher, x, y, unlabelled, data.num_classes, recipe, seed)
    accuracies = {name: recipes.accuracy(students[name], data.x_test, data.y_test) for name in STUDENTS}
    log(f"  seed {seed}: " + ", ".join(f"{name} {value:.4f}" for name, value in accuracies.items())
        + f" (recipe chose {history.recipe.name})")
    return accuracies, students, history.recipe.name


def summarise(per_seed, chosen):
    """Mean, std (population), per-seed values and the gap closed of each row.

    The gap closed is (row - scratch) / (teacher - scratch) on the seed means (per-seed
    denominators of a point or two make per-seed ratios noisy). ``beats_every_baseline``
    counts the seeds where the recipe is strictly above every other student row.
    """
    rows = {}
    for name in (TEACHER, *STUDENTS):
        values = [accuracies[name] for accuracies in per_seed]
        rows[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "seeds": values}
    teacher, scratch = rows[TEACHER]["mean"], rows[SCRATCH]["mean"]
    gap = teacher - scratch
    for name in method_names():
        rows[name]["gap_closed"] = (rows[name]["mean"] - scratch) / gap if gap > 0 else None
    rows[RECIPE]["chosen"] = chosen
    rows[RECIPE]["beats_every_baseline"] = sum(
        all(a[RECIPE] > a[name] for name in STUDENTS if name != RECIPE) for a in per_seed)
    return rows


@dataclasses.dataclass
class QualityResult:
    """Per regime rows; the seed-0 image teacher and students feed the ladder and speed sections."""

    regimes: dict
    teachers: tuple
    students: dict


def run(datasets, seeds, labels_per_class, log=print):
    """Every regime of every dataset over ``seeds``; few-label regimes skipped when ``labels_per_class`` is 0."""
    per_seed, chosen = {}, {}
    seed0_teachers, seed0_students = None, None
    for seed in range(seeds):
        for data in datasets:
            teacher, _ = recipes.train_teacher(data.x, data.y, data.num_classes, data.recipe, seed)
            teacher_accuracy = recipes.accuracy(teacher, data.x_test, data.y_test)
            log(f"{data.name} seed {seed}: teacher {teacher_accuracy:.4f}")
            regimes = {f"{data.name}, all labels": np.arange(len(data.y))}
            if labels_per_class:
                regimes[f"{data.name}, {labels_per_class} labels per class + the rest unlabelled"] = \
                    labelled_subset(data.y, labels_per_class, seed)
            for regime, index in regimes.items():
                log(f" {regime}")
                accuracies, students, name = run_regime(teacher, data, index, seed, log)
                per_seed.setdefault(regime, []).append({TEACHER: teacher_accuracy, **accuracies})
                chosen.setdefault(regime, []).append(name)
                if seed == 0 and seed0_students is None:
                    seed0_teachers, seed0_students = (teacher,), students
    return QualityResult(regimes={regime: summarise(rows, chosen[regime]) for regime, rows in per_seed.items()},
                         teachers=seed0_teachers, students=seed0_students)
