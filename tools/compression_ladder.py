"""The compression ladder on digits: distilled -> pruned (teacher-guided and plain) -> clustered -> QAT -> int8.

Runs ``tfkd.pipeline`` stages: the reference teacher, the distilled reference student,
then teacher-guided pruning next to plain pruning, clustering and QAT; every model is
converted to full int8 and verified. Prints accuracy, sparsity, distinct kernel values
and the gzip size of each step's int8 TFLite model as a markdown table. Stage results
are kept in --work_dir, so a rerun with other compression flags retrains nothing else.

    python tools/compression_ladder.py --seed 0
"""

import gzip
import os
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("seed", 0, "seed for every random choice")
flags.DEFINE_integer("teacher_epochs", 20, "teacher training epochs")
flags.DEFINE_integer("distill_epochs", 60, "distillation epochs for the student")
flags.DEFINE_float("distill_learning_rate", 3e-3, "Adam learning rate while distilling")
flags.DEFINE_integer("epochs", 10, "fine-tuning epochs of each compression step")
flags.DEFINE_float("sparsity", 0.75, "pruning target sparsity")
flags.DEFINE_integer("n_clusters", 16, "clusters per kernel")
flags.DEFINE_float("prune_learning_rate", 1e-3, "Adam learning rate while pruning")
flags.DEFINE_float("cluster_learning_rate", 1e-4, "Adam learning rate while clustering")
flags.DEFINE_float("qat_learning_rate", 1e-4, "Adam learning rate during QAT")
flags.DEFINE_string("work_dir", os.path.join(tempfile.gettempdir(), "tfkd-compression-ladder"),
                    "where the stages keep their results between runs")


def main(argv):
    del argv
    import dataclasses

    from tfkd import compress, pipeline as p, recipes

    recipe = dataclasses.replace(recipes.FULL, teacher_epochs=FLAGS.teacher_epochs,
                                 student_epochs=FLAGS.distill_epochs, student_learning_rate=FLAGS.distill_learning_rate)
    steps = p.Pipeline(FLAGS.work_dir, log=lambda line: print(line, file=sys.stderr))
    data = steps.run(p.Data())
    training = p.TrainConfig(recipe, FLAGS.seed)
    teacher = steps.run(p.Teacher(training, data=data))
    distilled = steps.run(p.Distil(training, data=data, teacher=teacher))

    def guidance(learning_rate):
        return dataclasses.replace(p.Guidance.from_recipe(recipe, FLAGS.seed), learning_rate=learning_rate)

    prune = p.Prune.Config(target_sparsity=FLAGS.sparsity, epochs=FLAGS.epochs,
                           guidance=guidance(FLAGS.prune_learning_rate))
    pruned = steps.run(p.Prune(prune, data=data, model=distilled, teacher=teacher))
    pruned_plain = steps.run(p.Prune(prune, name="student_pruned_plain", data=data, model=distilled))
    clustered = steps.run(p.Cluster(p.Cluster.Config(n_clusters=FLAGS.n_clusters, epochs=FLAGS.epochs,
                                                     guidance=guidance(FLAGS.cluster_learning_rate)),
                                    data=data, model=pruned, teacher=teacher))
    qat = steps.run(p.QAT(p.QAT.Config(epochs=FLAGS.epochs, guidance=guidance(FLAGS.qat_learning_rate)),
                          data=data, model=clustered, teacher=teacher))

    rows = [
        ("teacher", teacher),
        ("distilled student", distilled),
        (f"pruned {FLAGS.sparsity:.0%}, teacher-guided", pruned),
        (f"pruned {FLAGS.sparsity:.0%}, plain", pruned_plain),
        (f"clustered {FLAGS.n_clusters} (sparsity kept), teacher-guided", clustered),
        (f"QAT ({qat.scheme}), teacher-guided", qat),
    ]
    print("| model | float acc | int8 acc | sparsity | max unique/kernel | int8 bytes | gzip bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for index, (name, result) in enumerate(rows):
        converted = steps.run(p.Convert(name=f"int8_{index}", data=data, model=result))
        verified = steps.run(p.Verify(name=f"verify_{index}", data=data, converted=converted, model=result))
        summary = compress.summary(result.model)
        print(f"| {name} | {result.accuracy:.4f} | {verified.int8['litert_accuracy']:.4f} | {summary.sparsity:.1%} | "
              f"{summary.max_unique_values} | {len(converted.int8)} | {len(gzip.compress(converted.int8, 9))} |")
    sys.stdout.flush()


if __name__ == "__main__":
    app.run(main)
