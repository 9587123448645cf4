"""The compression ladder of one student: fp32 -> pruned -> clustered -> QAT -> int8 on LiteRT and TFLite Micro.

The steps are ``tfkd.pipeline`` stages: each starts from the previous one and
fine-tunes under the teacher's guidance. Sizes: Keras rows count 4 bytes per parameter
(dense fp32 storage) and, because pruning and clustering leave the tensor shapes
unchanged, also the gzip-9 size of those fp32 weights (what zeros and shared values save
in a compressed download). int8 rows give the flatbuffer itself and its gzip size.
Compression ratios are against the teacher's fp32 bytes. MACs come from the TFLite graph
(batch 1); the Keras rows are converted to float TFLite only to count them.
"""

import gzip
import tempfile

import numpy as np
import tensorflow as tf

from tfkd import compress, export, pipeline, recipes

STAGES = ("teacher fp32", "student fp32", "pruned", "clustered", "QAT", "int8 LiteRT", "int8 TFLite Micro")


def gzip_bytes(data):
    return len(gzip.compress(bytes(data), compresslevel=9))


def weights_bytes(model):
    """The model's weights as one fp32 byte string (QAT models add a few quantizer ranges)."""
    return b"".join(np.asarray(w, dtype=np.float32).tobytes() for w in model.get_weights())


def float_macs(model):
    """Multiply-accumulates per inference of ``model``, counted on its float TFLite graph."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return export.describe(converter.convert(), measure_arena=False).macs


def _keras_row(model, x_test, y_test, macs):
    summary = compress.summary(model)
    return {"accuracy": recipes.accuracy(model, x_test, y_test), "params": summary.params,
            "nonzero_params": summary.nonzero_params, "sparsity": summary.sparsity,
            "max_unique_values": summary.max_unique_values, "bytes": 4 * summary.params,
            "gzip_bytes": gzip_bytes(weights_bytes(model)), "arena_bytes": None, "macs": macs}


def run(teacher, student, x, y, x_test, y_test, settings, seed=0, log=print):
    """Rows of ``STAGES`` (dicts) and the int8 flatbuffer, for the latency section."""
    p = pipeline
    guidance = p.Guidance.from_recipe(settings.recipe, seed)
    with tempfile.TemporaryDirectory(prefix="tfkd-ladder-") as work_dir:
        steps = p.Pipeline(work_dir, log=lambda line: log(f"  {line}"), total=7)
        data = p.given_data("ladder", x, y, x_test, y_test, range(int(np.max(y)) + 1))
        teacher = steps.run(p.Given(model=teacher, name="teacher", data=data))
        student = steps.run(p.Given(model=student, name="student", data=data))
        pruned = steps.run(p.Prune(p.Prune.Config(target_sparsity=settings.target_sparsity,
                                                  epochs=settings.prune_epochs, guidance=guidance),
                                   data=data, model=student, teacher=teacher))
        clustered = steps.run(p.Cluster(p.Cluster.Config(n_clusters=settings.n_clusters,
                                                         epochs=settings.cluster_epochs, guidance=guidance),
                                        data=data, model=pruned, teacher=teacher))
        qat = steps.run(p.QAT(p.QAT.Config(epochs=settings.qat_epochs, guidance=guidance),
                              data=data, model=clustered, teacher=teacher))
        converted = steps.run(p.Convert(data=data, model=qat))
        verified = steps.run(p.Verify(data=data, converted=converted, model=qat))

    rows = {}
    for name, result in (("teacher fp32", teacher), ("student fp32", student), ("pruned", pruned),
                         ("clustered", clustered)):
        rows[name] = _keras_row(result.model, x_test, y_test, float_macs(result.model))
    checked, int8 = verified.int8, converted.int8
    rows["QAT"] = {**_keras_row(qat.model, x_test, y_test, checked["macs"]), "scheme": qat.scheme}
    int8_row = {"params": checked["params"], "nonzero_params": None, "sparsity": None, "max_unique_values": None,
                "bytes": len(int8), "gzip_bytes": gzip_bytes(int8), "macs": checked["macs"]}
    rows["int8 LiteRT"] = {**int8_row, "accuracy": checked["litert_accuracy"], "arena_bytes": None}
    rows["int8 TFLite Micro"] = {**int8_row, "accuracy": checked["tflm_accuracy"], "arena_bytes": verified.arena_bytes,
                                 "arena_bytes_with_margin": verified.arena_bytes_with_margin,
                                 "litert_tflm_max_lsb": checked["litert_tflm_max_lsb"],
                                 "litert_tflm_top1_agreement": checked["litert_tflm_top1_agreement"],
                                 "top1_agreement_with_qat": checked["float_agreement"]}
    teacher_bytes = rows["teacher fp32"]["bytes"]
    for row in rows.values():
        row["ratio"] = teacher_bytes / row["bytes"]
        row["gzip_ratio"] = teacher_bytes / row["gzip_bytes"]
    return rows, int8
