"""``tfkd distill``: teacher, student from scratch and distilled student on a dataset."""

import os
import time

from absl import flags

SUMMARY = "Train the reference teacher, a student from scratch and a distilled student; save both models."
USAGE = "--out DIR [--dataset digits] [--data_dir PATH] [--fast] [--seed N] [--recipe auto]"


def define_flags(fv):
    flags.DEFINE_string("out", None, "Output directory for teacher.keras and student.keras (required).", flag_values=fv)
    flags.DEFINE_string("dataset", "digits", "digits (embedded, no download), mnist, iris, an .npz path or an "
                        "image folder.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Folder with MNIST IDX files (for --dataset mnist).", flag_values=fv)
    flags.DEFINE_boolean("fast", False, "Few epochs, for a smoke run.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Random seed of every stage.", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("student_epochs", None, "Override the student's epochs.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("teacher_epochs", None, "Override the teacher's epochs.", lower_bound=1, flag_values=fv)
    flags.DEFINE_enum("recipe", "auto", ["auto", "textbook", "consistent", "patient"],
                      "Distillation recipe (tfkd.distil): auto chooses augmentation, mixup, T, alpha and schedule "
                      "on held-out labels; textbook is the plain Hinton run (with --temperature and --alpha).",
                      flag_values=fv)
    flags.DEFINE_float("temperature", 4.0, "Softening temperature T > 0 of --recipe textbook.", flag_values=fv)
    flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label loss, in [0, 1], of --recipe textbook.",
                       flag_values=fv)


def recipe_from_flags(fv):
    import dataclasses

    from tfkd import recipes

    recipe = recipes.FAST if fv.fast else recipes.FULL
    overrides = {"temperature": fv.temperature, "alpha": fv.alpha, "distillation": fv.recipe}
    if fv.student_epochs:
        overrides["student_epochs"] = fv.student_epochs
    if fv.teacher_epochs:
        overrides["teacher_epochs"] = fv.teacher_epochs
    return dataclasses.replace(recipe, **overrides)


def _distil(teacher, x, y, num_classes, recipe, seed, verbose):
    from tfkd import recipes

    if recipe.distillation == "textbook":  # today's plain run, honouring --temperature and --alpha
        return recipes.distil_textbook(teacher, x, y, num_classes, recipe, seed, verbose=verbose)
    return recipes.distil_with_recipe(teacher, x, y, num_classes, recipe, seed, verbose=verbose)


def main(fv, args):
    if args:
        raise ValueError(f"unexpected arguments {args}; tfkd distill takes only flags")
    if not fv.out:
        raise ValueError("--out is required: the directory to write teacher.keras and student.keras to")
    from tfkd import data, files, recipes, resume

    files.check_output_dir(fv.out)
    recipe = recipe_from_flags(fv)
    (x, y), (x_test, y_test), class_names = data.load(fv.dataset, data_dir=fv.data_dir)
    num_classes = len(class_names)
    verbose = 0 if fv.quiet else 2
    results = {}
    for stage, train in (
        ("teacher", lambda: recipes.train_teacher(x, y, num_classes, recipe, fv.seed, verbose=verbose)),
        ("student_scratch", lambda: recipes.train_scratch(x, y, num_classes, recipe, fv.seed, verbose=verbose)),
        ("student_distilled", lambda: _distil(results["teacher"], x, y, num_classes, recipe, fv.seed, verbose)),
    ):
        start = time.time()
        if not fv.quiet:
            print(f"[{stage}] training", flush=True)
        # A finished stage of an interrupted run with the same settings is loaded, not trained again.
        model, _ = resume.finished_stage(fv.out, stage, (recipe, fv.dataset, fv.data_dir, fv.seed), train,
                                         log=None if fv.quiet else print)
        model = getattr(model, "student", model)
        results[stage] = model
        if not fv.quiet:
            print(f"[{stage}] test accuracy {recipes.accuracy(model, x_test, y_test):.4f} "
                  f"({time.time() - start:.1f} s)", flush=True)
    with files.staged_output_dir(fv.out) as staging:
        results["teacher"].save(os.path.join(staging, "teacher.keras"))
        results["student_distilled"].save(os.path.join(staging, "student.keras"))
    resume.discard_backups(fv.out)
    print(f"{'model':<18} {'params':>8} {'test accuracy':>14}")
    for stage in ("teacher", "student_scratch", "student_distilled"):
        model = results[stage]
        print(f"{stage:<18} {model.count_params():>8} {recipes.accuracy(model, x_test, y_test):>14.4f}")
    print(f"saved {os.path.join(fv.out, 'teacher.keras')} and {os.path.join(fv.out, 'student.keras')}")
    return 0
