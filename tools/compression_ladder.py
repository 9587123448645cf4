"""The compression ladder on digits: distilled -> pruned (teacher-guided and plain) -> clustered -> QAT -> int8.

Trains the reference teacher, distils the reference student, then compresses it with
tfkd.compress and prints accuracy, sparsity, distinct kernel values and the gzip size
of each step's full-int8 TFLite model as a markdown table.

    python tools/compression_ladder.py --seed 0
"""

import gzip
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("seed", 0, "seed for every random choice")
flags.DEFINE_integer("teacher_epochs", 20, "teacher training epochs")
flags.DEFINE_integer("distill_epochs", 60, "distillation epochs for the student")
flags.DEFINE_integer("epochs", 10, "fine-tuning epochs of each compression step")
flags.DEFINE_float("sparsity", 0.75, "pruning target sparsity")
flags.DEFINE_integer("n_clusters", 16, "clusters per kernel")
flags.DEFINE_float("prune_learning_rate", 1e-3, "Adam learning rate while pruning")
flags.DEFINE_float("cluster_learning_rate", 1e-4, "Adam learning rate while clustering")
flags.DEFINE_float("qat_learning_rate", 1e-4, "Adam learning rate during QAT")


def int8_accuracy(tflite_bytes, x, y):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    correct = 0
    for sample, label in zip(x, y):
        interpreter.set_tensor(inp["index"], np.round(sample[None] / scale + zero).clip(-128, 127).astype(np.int8))
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == label)
    return correct / len(y)


def main(argv):
    del argv
    import tf_keras

    import tfkd

    tf_keras.utils.set_random_seed(FLAGS.seed)
    (x, y), (x_test, y_test), _ = tfkd.data.load("digits")
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def accuracy(model):
        predictions = model.predict(x_test, verbose=0).argmax(-1)
        return float((predictions == y_test).mean())

    teacher = tfkd.models.cnn_teacher((8, 8, 1), 10)
    teacher.compile(tf_keras.optimizers.Adam(1e-3), loss, ["accuracy"])
    teacher.fit(x, y, epochs=FLAGS.teacher_epochs, batch_size=32, verbose=0)
    distiller = tfkd.Distiller(student=tfkd.models.cnn_student((8, 8, 1), 10), teacher=teacher)
    distiller.compile(optimizer=tf_keras.optimizers.Adam(3e-3), loss=loss, metrics=["accuracy"])
    distiller.fit(x, y, epochs=FLAGS.distill_epochs, batch_size=32, verbose=0)
    distilled = distiller.student

    common = dict(data=(x, y), epochs=FLAGS.epochs, verbose=0)
    tf_keras.utils.set_random_seed(FLAGS.seed)
    pruned = tfkd.compress.prune(
        distilled, teacher=teacher, target_sparsity=FLAGS.sparsity, learning_rate=FLAGS.prune_learning_rate, **common
    )
    tf_keras.utils.set_random_seed(FLAGS.seed)
    pruned_plain = tfkd.compress.prune(
        distilled, target_sparsity=FLAGS.sparsity, learning_rate=FLAGS.prune_learning_rate, **common
    )
    clustered = tfkd.compress.cluster(
        pruned, teacher=teacher, n_clusters=FLAGS.n_clusters, learning_rate=FLAGS.cluster_learning_rate, **common
    )
    qat = tfkd.compress.quantize(clustered, teacher=teacher, learning_rate=FLAGS.qat_learning_rate, **common)

    rows = [
        ("teacher", teacher),
        ("distilled student", distilled),
        (f"pruned {FLAGS.sparsity:.0%}, teacher-guided", pruned),
        (f"pruned {FLAGS.sparsity:.0%}, plain", pruned_plain),
        (f"clustered {FLAGS.n_clusters} (sparsity kept), teacher-guided", clustered),
        (f"QAT ({tfkd.compress.choose_scheme(clustered)}), teacher-guided", qat),
    ]
    print("| model | float acc | int8 acc | sparsity | max unique/kernel | int8 bytes | gzip bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, model in rows:
        report = tfkd.compress.summary(model)
        tflite = tfkd.export.to_tflite(model, x)
        print(
            f"| {name} | {accuracy(model):.4f} | {int8_accuracy(tflite, x_test, y_test):.4f} | "
            f"{report.sparsity:.1%} | {report.max_unique_values} | {len(tflite)} | {len(gzip.compress(tflite, 9))} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    app.run(main)
