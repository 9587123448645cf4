"""The compression ladder of one student: fp32 -> pruned -> clustered -> QAT -> int8 on LiteRT and TFLite Micro.

Each step starts from the previous one and fine-tunes under the teacher's guidance
(``tfkd.compress``). Sizes: Keras rows count 4 bytes per parameter (dense fp32 storage)
and, because pruning and clustering leave the tensor shapes unchanged, also the gzip-9
size of those fp32 weights (what zeros and shared values save in a compressed
download). int8 rows give the flatbuffer itself and its gzip size. Compression ratios are
against the teacher's fp32 bytes. MACs come from the TFLite graph (batch 1); the Keras rows
are converted to float TFLite only to count them.
"""

import gzip

import numpy as np
import tensorflow as tf
import tf_keras

from tfkd import compress, export, recipes

STAGES = ("teacher fp32", "student fp32", "pruned", "clustered", "QAT", "int8 LiteRT", "int8 TFLite Micro")


def gzip_bytes(data):
    return len(gzip.compress(bytes(data), compresslevel=9))


def weights_bytes(model):
    """The model's weights as one fp32 byte string (QAT models add a few quantizer ranges)."""
    return b"".join(np.asarray(w, dtype=np.float32).tobytes() for w in model.get_weights())


def float_macs(model):
    """Multiply-accumulates per inference of ``model``, counted on its float TFLite graph."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return export.model_info.parse(converter.convert()).macs


def _keras_row(model, x_test, y_test, macs):
    summary = compress.summary(model)
    return {"accuracy": recipes.accuracy(model, x_test, y_test), "params": summary.params,
            "nonzero_params": summary.nonzero_params, "sparsity": summary.sparsity,
            "max_unique_values": summary.max_unique_values, "bytes": 4 * summary.params,
            "gzip_bytes": gzip_bytes(weights_bytes(model)), "arena_bytes": None, "macs": macs}


def run(teacher, student, x, y, x_test, y_test, settings, seed=0, log=print):
    """Rows of ``STAGES`` (dicts) and the int8 flatbuffer, for the latency section."""
    recipe = settings.recipe
    guidance = dict(teacher=teacher, temperature=recipe.temperature, alpha=recipe.alpha,
                    batch_size=recipe.batch_size, verbose=0)
    rows = {}
    rows["teacher fp32"] = _keras_row(teacher, x_test, y_test, float_macs(teacher))
    student_macs = float_macs(student)
    rows["student fp32"] = _keras_row(student, x_test, y_test, student_macs)
    tf_keras.utils.set_random_seed(seed)
    pruned = compress.prune(student, (x, y), target_sparsity=settings.target_sparsity,
                            epochs=settings.prune_epochs, **guidance)
    rows["pruned"] = _keras_row(pruned, x_test, y_test, float_macs(pruned))
    log(f"  pruned: {rows['pruned']['accuracy']:.4f}, sparsity {rows['pruned']['sparsity']:.3f}")
    tf_keras.utils.set_random_seed(seed)
    clustered = compress.cluster(pruned, (x, y), n_clusters=settings.n_clusters,
                                 epochs=settings.cluster_epochs, **guidance)
    rows["clustered"] = _keras_row(clustered, x_test, y_test, float_macs(clustered))
    log(f"  clustered: {rows['clustered']['accuracy']:.4f}")
    tf_keras.utils.set_random_seed(seed)
    qat = compress.quantize(clustered, (x, y), epochs=settings.qat_epochs, **guidance)
    int8 = export.to_tflite(qat, x, io="int8")
    info = export.describe(int8)  # measures the TFLite Micro arena
    rows["QAT"] = _keras_row(qat, x_test, y_test, info.macs)
    rows["QAT"]["scheme"] = compress.choose_scheme(clustered)
    log(f"  QAT ({rows['QAT']['scheme']}): {rows['QAT']['accuracy']:.4f}")
    checked = export.verify(int8, x_test, y_test, reference=qat,
                            arena_size=export.arena_with_margin(info.arena_bytes))
    int8_row = {"params": info.parameter_count, "nonzero_params": None, "sparsity": None,
                "max_unique_values": None, "bytes": len(int8), "gzip_bytes": gzip_bytes(int8), "macs": info.macs}
    rows["int8 LiteRT"] = {**int8_row, "accuracy": checked["litert_accuracy"], "arena_bytes": None}
    rows["int8 TFLite Micro"] = {**int8_row, "accuracy": checked["tflm_accuracy"], "arena_bytes": info.arena_bytes,
                                 "arena_bytes_with_margin": checked["tflm_arena_size"],
                                 "litert_tflm_max_lsb": checked["litert_tflm_max_lsb"],
                                 "litert_tflm_top1_agreement": checked["litert_tflm_top1_agreement"],
                                 "top1_agreement_with_qat": checked["float_agreement"]}
    log(f"  int8: {len(int8)} bytes, LiteRT {checked['litert_accuracy']:.4f}, TFLM {checked['tflm_accuracy']:.4f}")
    teacher_bytes = rows["teacher fp32"]["bytes"]
    for row in rows.values():
        row["ratio"] = teacher_bytes / row["bytes"]
        row["gzip_ratio"] = teacher_bytes / row["gzip_bytes"]
    return rows, int8
