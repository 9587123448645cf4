"""The whole pipeline on one dataset: what ``tfkd demo`` runs.

teacher -> student from scratch (baseline) -> student distilled with textbook settings ->
student distilled with the tfkd recipe -> student from scratch with the recipe's augmentation
and epochs (the fair baseline) -> teacher-guided pruning -> teacher-guided clustering -> teacher-guided QAT -> full int8 -> verification
on LiteRT and TFLite Micro -> C arrays (and, with the Arm toolchain, ahead-of-time C
measured on an emulated Cortex-M4) -> report. Every artifact is written into a staging
directory and moved into place only when all stages succeed.
"""

import dataclasses
import gzip
import json
import os
import time

import numpy as np

from tfkd import compress, data, export, files, recipes

STAGES = (
    "data", "teacher", "student_scratch", "student_distilled_textbook", "student_distilled",
    "student_scratch_augmented", "student_pruned", "student_clustered",
    "student_qat", "int8", "verify", "micro", "report",
)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    recipe: recipes.Recipe
    # The 1.9k-parameter reference student has little to spare: at 75% sparsity teacher-guided
    # pruning of the recipe-distilled student cost 3.3 points in the fast demo (0.9689 -> 0.9356)
    # and int8 ended 3.8 below the float student; at 50% the whole ladder costs well under a point.
    target_sparsity: float = 0.5
    # The first convolution holds a few dozen weights that see every pixel: pruning it
    # costs most of the accuracy lost at 75% sparsity (measured on digits: 2 points with
    # it, 0.4 without), so the demo leaves it dense.
    prune_exclude: tuple = ("conv_1",)
    n_clusters: int = 16
    prune_epochs: int = 10
    cluster_epochs: int = 4
    qat_epochs: int = 4


FULL = DemoSettings(recipe=recipes.FULL)
FAST = DemoSettings(recipe=recipes.FAST, prune_epochs=4, cluster_epochs=2, qat_epochs=2)


class _Progress:
    """One line per stage with its elapsed time; the timings also go into the report."""

    def __init__(self, log):
        self.log = log
        self.timings = {}

    def run(self, stage, work):
        index = STAGES.index(stage) + 1
        self.log(f"[{index:>2}/{len(STAGES)}] {stage} ...")
        start = time.perf_counter()
        result, note = work()
        self.timings[stage] = round(time.perf_counter() - start, 2)
        self.log(f"[{index:>2}/{len(STAGES)}] {stage} done in {self.timings[stage]:.1f} s{': ' + note if note else ''}")
        return result


def run(out_dir, dataset="digits", data_dir=None, fast=False, seed=0, log=print, verbose=0, recipe_name="auto"):
    """Runs every stage, writes the artifacts of the contract into ``out_dir`` and returns the report.

    ``recipe_name`` is the ``tfkd.distil`` recipe of the distilled student ("auto" by default;
    "textbook" gives the plain Hinton run).
    """
    from tfkd import teaching

    if recipe_name not in teaching.RECIPES:
        raise ValueError(f"recipe={recipe_name!r} is invalid; expected one of {teaching.RECIPES}")
    import tensorflow as tf

    files.check_output_dir(out_dir)
    # Same seed, same numbers: deterministic kernels cost a little speed on small models.
    tf.config.experimental.enable_op_determinism()
    settings = FAST if fast else FULL
    recipe = dataclasses.replace(settings.recipe, distillation=recipe_name)
    progress = _Progress(log)
    report = {"settings": {"dataset": dataset, "fast": bool(fast), "seed": seed,
                           **dataclasses.asdict(settings)}}
    histories = {}

    def load():
        (x, y), (x_test, y_test), names = data.load(dataset, data_dir=data_dir)
        report["dataset"] = {"name": dataset, "train_samples": int(len(x)), "test_samples": int(len(x_test)),
                             "classes": len(names), "class_names": list(names), "input_shape": list(x.shape[1:])}
        return (x, y, x_test, y_test, names), f"{len(x)} training and {len(x_test)} test samples, {len(names)} classes"

    x, y, x_test, y_test, class_names = progress.run("data", load)
    num_classes = len(class_names)
    validation = (x_test, y_test)

    def accuracy(model):
        return recipes.accuracy(model, x_test, y_test)

    def teacher_stage():
        teacher, history = recipes.train_teacher(x, y, num_classes, recipe, seed, validation, verbose)
        histories["teacher"] = history.history
        params = teacher.count_params()
        report["teacher"] = {"accuracy": accuracy(teacher), "params": params, "fp32_bytes": 4 * params,
                             "gzip_bytes": _gzip_weight_bytes(teacher)}
        return teacher, f"accuracy {report['teacher']['accuracy']:.4f}, {params} params"

    teacher = progress.run("teacher", teacher_stage)

    def scratch_stage():
        student, history = recipes.train_scratch(x, y, num_classes, recipe, seed, validation, verbose)
        histories["student_scratch"] = history.history
        report["student_scratch"] = {"accuracy": accuracy(student), "params": student.count_params()}
        return student, f"accuracy {report['student_scratch']['accuracy']:.4f}"

    progress.run("student_scratch", scratch_stage)

    def textbook_stage():
        distiller, history = recipes.distil_textbook(teacher, x, y, num_classes, recipe, seed, validation, verbose)
        histories["student_distilled_textbook"] = history.history
        report["student_distilled_textbook"] = {"accuracy": accuracy(distiller.student),
                                                "temperature": recipe.temperature, "alpha": recipe.alpha,
                                                "epochs": recipe.student_epochs}
        return None, f"accuracy {report['student_distilled_textbook']['accuracy']:.4f}"

    progress.run("student_distilled_textbook", textbook_stage)

    def distil_stage():
        distiller, history = recipes.distil_with_recipe(teacher, x, y, num_classes, recipe, seed,
                                                        validation_data=validation, verbose=verbose)
        histories["student_distilled"] = history.history
        student = distiller.student
        chosen = history.recipe
        report["student_distilled"] = {"accuracy": accuracy(student), "params": student.count_params(),
                                       "fp32_bytes": 4 * student.count_params(),
                                       "gzip_bytes": _gzip_weight_bytes(student),
                                       "recipe": {"requested": recipe_name, **dataclasses.asdict(chosen),
                                                  "epochs": recipe.student_epochs * chosen.epochs_factor},
                                       }
        if getattr(history, "recipe_scores", None):
            report["student_distilled"]["recipe"]["held_out_accuracy"] = history.recipe_scores
        return (student, chosen), f"accuracy {report['student_distilled']['accuracy']:.4f} (recipe {chosen.name})"

    distilled, chosen = progress.run("student_distilled", distil_stage)

    def scratch_augmented_stage():
        student, history = recipes.train_scratch_augmented(x, y, num_classes, recipe, seed, chosen, validation,
                                                           verbose)
        histories["student_scratch_augmented"] = history.history
        report["student_scratch_augmented"] = {"accuracy": accuracy(student), "augment": chosen.augment,
                                               "epochs": recipe.student_epochs * chosen.epochs_factor}
        return None, f"accuracy {report['student_scratch_augmented']['accuracy']:.4f}"

    progress.run("student_scratch_augmented", scratch_augmented_stage)
    guidance = dict(teacher=teacher, temperature=chosen.temperature, alpha=chosen.alpha,
                    batch_size=recipe.batch_size, verbose=verbose)

    def prune_stage():
        import tf_keras

        tf_keras.utils.set_random_seed(seed)
        pruned = compress.prune(distilled, (x, y), target_sparsity=settings.target_sparsity,
                                epochs=settings.prune_epochs, exclude=settings.prune_exclude, **guidance)
        summary = compress.summary(pruned)
        report["student_pruned"] = {"accuracy": accuracy(pruned), "sparsity": summary.sparsity,
                                    "target_sparsity": settings.target_sparsity,
                                    "excluded_layers": list(settings.prune_exclude),
                                    "gzip_bytes": _gzip_weight_bytes(pruned)}
        return (pruned, summary), (f"accuracy {report['student_pruned']['accuracy']:.4f}, "
                                   f"sparsity {summary.sparsity:.3f}")

    pruned, pruned_summary = progress.run("student_pruned", prune_stage)

    def cluster_stage():
        import tf_keras

        tf_keras.utils.set_random_seed(seed)
        clustered = compress.cluster(pruned, (x, y), n_clusters=settings.n_clusters, preserve_sparsity=True,
                                     epochs=settings.cluster_epochs, **guidance)
        summary = compress.summary(clustered)
        report["student_clustered"] = {"accuracy": accuracy(clustered), "sparsity": summary.sparsity,
                                       "max_unique_values": summary.max_unique_values,
                                       "gzip_bytes": _gzip_weight_bytes(clustered)}
        return clustered, (f"accuracy {report['student_clustered']['accuracy']:.4f}, "
                           f"at most {summary.max_unique_values} values per kernel")

    clustered = progress.run("student_clustered", cluster_stage)

    def qat_stage():
        import tf_keras

        tf_keras.utils.set_random_seed(seed)
        qat = compress.quantize(clustered, (x, y), epochs=settings.qat_epochs, **guidance)
        report["student_qat"] = {"accuracy": accuracy(qat), "scheme": compress.choose_scheme(clustered),
                                 "sparsity": compress.summary(qat).sparsity, "gzip_bytes": _gzip_weight_bytes(qat)}
        return qat, f"accuracy {report['student_qat']['accuracy']:.4f} ({report['student_qat']['scheme']})"

    qat = progress.run("student_qat", qat_stage)

    def int8_stage():
        int8 = export.to_tflite(qat, x, io="int8")
        float_io = export.to_tflite(qat, x, io="float")
        return (int8, float_io), f"{len(int8)} bytes int8, {len(float_io)} bytes float I/O"

    int8_bytes, float_io_bytes = progress.run("int8", int8_stage)

    def verify_stage():
        measured_arena = export.measure_arena(int8_bytes)
        arena_size = export.arena_with_margin(measured_arena)
        checks = export.verify(int8_bytes, x_test, y_test, reference=qat, arena_size=arena_size)
        android = export.verify(float_io_bytes, x_test, y_test, reference=qat)
        info = export.describe(int8_bytes, measure_arena=False)
        predictions = _tflm_predictions(int8_bytes, x_test, arena_size)
        report["int8"] = {
            "tflite_bytes": len(int8_bytes),
            "gzip_bytes": len(gzip.compress(int8_bytes, 9)),
            "litert_accuracy": checks["litert_accuracy"],
            "litert_default_accuracy": checks["litert_default_accuracy"],
            "tflm_accuracy": checks["tflm_accuracy"],
            "litert_tflm_max_lsb": checks["litert_tflm_max_lsb"],
            "litert_tflm_top1_agreement": checks["litert_tflm_top1_agreement"],
            "float_agreement": checks["float_agreement"],
            "arena_bytes": measured_arena,
            "arena_bytes_with_margin": arena_size,
            "ops": info.op_names,
            "params": info.parameter_count,
            "int8_weight_bytes": info.weight_bytes,
            "macs": info.macs,
            "compression_ratio": report["teacher"]["fp32_bytes"] / len(int8_bytes),
            "accuracy_cost_vs_teacher": report["teacher"]["accuracy"] - checks["tflm_accuracy"],
            "accuracy_cost_vs_qat": report["student_qat"]["accuracy"] - checks["tflm_accuracy"],
        }
        report["float_io"] = {"tflite_bytes": len(float_io_bytes), "litert_accuracy": android["litert_accuracy"],
                              "tflm_accuracy": android["tflm_accuracy"]}
        return predictions, (f"TFLite Micro accuracy {checks['tflm_accuracy']:.4f}, max {checks['litert_tflm_max_lsb']} "
                             f"LSB from LiteRT, top-1 agreement {checks['litert_tflm_top1_agreement']:.4f}")

    tflm_predictions = progress.run("verify", verify_stage)

    with files.staged_output_dir(out_dir) as staging:

        def micro_stage():
            export.write_c_arrays(int8_bytes, os.path.join(staging, "micro"), labels=class_names,
                                  arena_bytes=report["int8"]["arena_bytes"])
            report["codegen"] = _codegen_footprint(int8_bytes, x_test, report["int8"])
            note = "C arrays written"
            if "flash_bytes" in report["codegen"]:
                c = report["codegen"]
                note += (f"; generated C on Cortex-M4: {c['flash_bytes']} B flash, {c['ram_bytes']} B RAM, "
                         f"{c['instructions_per_mac']} instructions/MAC, bit-exact: {c['matches_tflm']}")
            return None, note

        progress.run("micro", micro_stage)

        def report_stage():
            _write_models(staging, teacher, distilled, int8_bytes, float_io_bytes, class_names)
            report["timings_s"] = progress.timings
            plots = _write_plots(staging, histories, report, pruned_summary, y_test, tflm_predictions, class_names)
            report["plots"] = plots
            from tfkd.report import markdown

            files.atomic_write_text(os.path.join(staging, "report.md"), markdown.render(report))
            files.atomic_write_text(os.path.join(staging, "report.json"), json.dumps(_plain(report), indent=2) + "\n")
            return None, f"{len(plots)} plots"

        progress.run("report", report_stage)
    for line in summary_table(report).splitlines():
        log(line)
    return _plain(report)


def _tflm_predictions(int8_bytes, x_test, arena_size):
    from tfkd.export.arena import tflm_interpreter
    from tfkd.model import quantize

    interpreter = tflm_interpreter(int8_bytes, arena_size)
    details = interpreter.get_input_details(0)
    scale, zero_point = details["quantization_parameters"]["scales"][0], details["quantization_parameters"]["zero_points"][0]
    predictions = []
    for sample in x_test:
        quantized = quantize(sample, scale, zero_point)
        interpreter.set_input(quantized[None], 0)
        interpreter.invoke()
        predictions.append(int(np.argmax(interpreter.get_output(0))))
    return np.array(predictions)


def _codegen_footprint(int8_bytes, x_test, int8_report):
    """Flash, RAM and instructions of the ahead-of-time C on an emulated Cortex-M4, when the tools exist."""
    from tfkd.codegen import cortex_m4, footprint

    missing = cortex_m4.missing_tools()
    if missing:
        return {"skipped": f"missing tools: {', '.join(missing)}"}
    from tfkd.export.arena import tflm_interpreter
    from tfkd.model import quantize

    interpreter = tflm_interpreter(int8_bytes, export.arena_with_margin(int8_report["arena_bytes"]))
    quantization = interpreter.get_input_details(0)["quantization_parameters"]
    scale, zero_point = quantization["scales"][0], quantization["zero_points"][0]
    samples = quantize(x_test[:16], scale, zero_point)
    result = footprint.measure(int8_bytes, samples=samples)
    result.pop("outputs", None)
    return result


def _write_models(staging, teacher, student, int8_bytes, float_io_bytes, class_names):
    teacher.save(os.path.join(staging, "teacher.keras"))
    student.save(os.path.join(staging, "student.keras"))
    files.atomic_write_bytes(os.path.join(staging, "model_int8.tflite"), int8_bytes)
    files.atomic_write_bytes(os.path.join(staging, "model_float_io.tflite"), float_io_bytes)
    files.atomic_write_text(os.path.join(staging, "labels.txt"), "".join(f"{n}\n" for n in class_names))


def _write_plots(staging, histories, report, pruned_summary, y_test, predictions, class_names):
    from tfkd.report import plots

    folder = os.path.join(staging, "plots")
    os.makedirs(folder, exist_ok=True)
    stages = [
        {"name": name, "bytes": report[key]["gzip_bytes"], "accuracy": report[key][accuracy]}
        for name, key, accuracy in (
            ("teacher fp32", "teacher", "accuracy"),
            ("student fp32", "student_distilled", "accuracy"),
            ("pruned", "student_pruned", "accuracy"),
            ("clustered", "student_clustered", "accuracy"),
            ("QAT", "student_qat", "accuracy"),
            ("int8 (TFLite Micro)", "int8", "tflm_accuracy"),
        )
    ]
    paths = [
        plots.training_curves(histories, os.path.join(folder, "training_curves.png")),
        plots.accuracy_vs_size(stages, os.path.join(folder, "accuracy_vs_size.png")),
        plots.layer_sparsity(pruned_summary, os.path.join(folder, "layer_sparsity.png")),
        plots.confusion_matrix(y_test, predictions, class_names, os.path.join(folder, "confusion_matrix_int8.png")),
    ]
    return [os.path.join("plots", os.path.basename(p)) for p in paths]


def _gzip_weight_bytes(model):
    """gzip -9 size of a model's float32 weights: the size pruning and clustering reduce."""
    weights = b"".join(np.asarray(w, dtype=np.float32).tobytes() for w in model.get_weights())
    return len(gzip.compress(weights, 9))


def summary_table(report):
    rows = [
        ("teacher (fp32)", report["teacher"]["accuracy"], report["teacher"]["fp32_bytes"]),
        ("student from scratch", report["student_scratch"]["accuracy"], 4 * report["student_scratch"]["params"]),
        ("scratch, same augmentation", report["student_scratch_augmented"]["accuracy"], None),
        ("distilled, textbook", report["student_distilled_textbook"]["accuracy"], None),
        (f"distilled, {report['student_distilled']['recipe']['name']}", report["student_distilled"]["accuracy"],
         report["student_distilled"]["fp32_bytes"]),
        (f"pruned ({report['student_pruned']['sparsity']:.0%} zeros)", report["student_pruned"]["accuracy"], None),
        ("clustered", report["student_clustered"]["accuracy"], None),
        ("QAT", report["student_qat"]["accuracy"], None),
        ("int8 on LiteRT", report["int8"]["litert_accuracy"], report["int8"]["tflite_bytes"]),
        ("int8 on TFLite Micro", report["int8"]["tflm_accuracy"], report["int8"]["tflite_bytes"]),
    ]
    lines = [f"{'stage':<28} {'test accuracy':>13} {'bytes':>9}"]
    for name, accuracy, size in rows:
        lines.append(f"{name:<28} {accuracy:>13.4f} {size if size is not None else '':>9}")
    i = report["int8"]
    lines.append(f"compression {i['compression_ratio']:.1f}x (teacher fp32 / int8 .tflite), accuracy cost "
                 f"{i['accuracy_cost_vs_teacher'] * 100:+.2f} points vs teacher; arena {i['arena_bytes']} B; "
                 f"LiteRT vs TFLite Micro: max {i['litert_tflm_max_lsb']} LSB, top-1 agreement "
                 f"{i['litert_tflm_top1_agreement']:.4f}")
    return "\n".join(lines)


def _plain(value):
    """JSON-ready copy: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
