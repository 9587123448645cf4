"""``tfkd demo``: the whole pipeline on the embedded default dataset."""

from absl import flags

SUMMARY = "Teacher -> scratch and distilled students -> pruning, clustering, QAT -> int8, verified -> C arrays, report."
USAGE = "--out DIR [--fast] [--dataset digits] [--data_dir PATH] [--seed N] [--recipe auto]"


def define_flags(fv):
    flags.DEFINE_string("out", None, "Output directory for every artifact (required; re-running over it works).",
                        flag_values=fv)
    flags.DEFINE_boolean("fast", False, "Few epochs: finishes within about 3 minutes on 2 cores.", flag_values=fv)
    flags.DEFINE_string("dataset", "digits", "digits (embedded, no download), mnist, iris, an .npz path or an "
                        "image folder.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Folder with MNIST IDX files (for --dataset mnist).", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Random seed of every stage; the same seed gives the same report numbers.",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_enum("recipe", "auto", ["auto", "textbook", "consistent", "patient"],
                      "Distillation recipe (tfkd.distil): auto chooses augmentation, mixup, T, alpha and schedule "
                      "on held-out labels; textbook is the plain Hinton run.", flag_values=fv)


def main(fv, args):
    if args:
        raise ValueError(f"unexpected arguments {args}; tfkd demo takes only flags")
    if not fv.out:
        raise ValueError("--out is required: the directory to write the artifacts to")
    from tfkd import demo

    log = (lambda line: None) if fv.quiet else (lambda line: print(line, flush=True))
    report = demo.run(fv.out, dataset=fv.dataset, data_dir=fv.data_dir, fast=fv.fast, seed=fv.seed, log=log,
                      verbose=0 if fv.quiet else 2, recipe_name=fv.recipe)
    if fv.quiet:
        print(demo.summary_table(report))
    print(f"wrote {fv.out}/report.md, report.json, plots/, model_int8.tflite, model_float_io.tflite, micro/")
    return 0
