"""The benchmark's markdown: the command, the machine, the settings and one table per section."""

import datetime
import os
import platform

from benchmarks import quality, training_speed
from tfkd import teaching


def machine():
    """What ran the benchmark: CPU, cores usable by this process, load, and library versions."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass  # not Linux: platform's answer stands
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "tfmot": tfmot.__version__,
        "date": datetime.date.today().isoformat(),
    }


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _optional(value, fmt="{:,}"):
    return "—" if value is None else fmt.format(value)


def _quality_section(results):
    s = results["settings"]
    parts = ["## 1. Distillation quality", "",
             f"Test accuracy over {s['seeds']} seeds (mean ± population std; seeds listed). "
             "Gap closed = (row - scratch) / (teacher - scratch), on the means. Every row trains the same "
             "reference student in the same run, on the same labelled samples; the teacher trains on all labels. "
             "Scratch, textbook and tfkd defaults train the textbook epochs (images: "
             f"{s['student_epochs']}, Iris: {s['tabular_recipe']['student_epochs']}); the recipe and the scratch "
             "row with its augmentation train the recipe's epochs (auto with all labels: "
             f"{teaching.PATIENCE_ALL_LABELS}x the textbook's, with 15 labels per class + unlabelled: "
             f"{teaching.PATIENCE}x, after choosing among its candidates on "
             f"{teaching.VALIDATION_FRACTION:.0%} of the labels held out).", ""]
    for regime, rows in results["quality"].items():
        recipe = rows[quality.RECIPE]
        parts += [f"### {regime}", ""]
        table = []
        for name in (quality.TEACHER, *quality.STUDENTS):
            row = rows[name]
            gap = row.get("gap_closed")
            table.append([name, f"{row['mean']:.4f} ± {row['std']:.4f}",
                          "—" if gap is None else f"{gap:+.2f}",
                          ", ".join(f"{v:.4f}" for v in row["seeds"])])
        parts += [_table(["method", "accuracy", "gap closed", "per seed"], table), "",
                  f"Recipe chosen per seed: {', '.join(recipe['chosen'])}. The recipe is above every other "
                  f"student row on {recipe['beats_every_baseline']} of {len(recipe['seeds'])} seeds.", ""]
    return parts


def _ladder_section(results):
    from benchmarks import ladder

    rows = results["ladder"]
    table = [[stage, f"{row['accuracy']:.4f}", f"{row['params']:,}", _optional(row["nonzero_params"]),
              f"{row['bytes']:,}", f"{row['ratio']:.1f}x", f"{row['gzip_bytes']:,}", f"{row['gzip_ratio']:.1f}x",
              _optional(row["arena_bytes"]), f"{row['macs']:,}"]
             for stage, row in ((stage, rows[stage]) for stage in ladder.STAGES)]
    micro = rows["int8 TFLite Micro"]
    return [
        f"## 2. Compression ladder (student: {results['best_method']}, seed 0)", "",
        "Each step fine-tunes the previous one under the teacher. bytes: 4 per parameter for Keras rows, "
        "the flatbuffer for int8 rows; gzip: gzip -9 of the same; ratios against the teacher's fp32 bytes. "
        "arena: the TFLite Micro arena measured on this host (firmware adds a margin: "
        f"{micro['arena_bytes_with_margin']:,} bytes). QAT scheme: {rows['QAT']['scheme']}. "
        f"LiteRT vs TFLite Micro: max {micro['litert_tflm_max_lsb']} LSB apart, top-1 agreement "
        f"{micro['litert_tflm_top1_agreement']:.4f}; TFLite Micro vs the QAT model: top-1 agreement "
        f"{micro['top1_agreement_with_qat']:.4f}.", "",
        _table(["stage", "accuracy", "params", "nonzero", "bytes", "ratio", "gzip bytes", "gzip ratio",
                "arena bytes", "MACs"], table), "",
    ]


def _speed_section(results):
    from benchmarks import latency

    speed, settings = results["training_speed"], results["settings"]
    labels = {"plain": "plain fit (student only)", "baseline": "Keras-docs style distiller (baseline)",
              "online": "tfkd Distiller, online", "cached": "tfkd Distiller, cached teacher"}
    training = [[labels[v], f"{speed[v]['steps_per_second']:.1f}", f"{speed[v]['vs_baseline']:.2f}x"]
                for v in training_speed.VARIANTS]
    times = results["latency"]
    inference = [[name, f"{times[name]['seconds'] * 1e6:.1f}", f"{times[name]['speedup_vs_keras_eager']:.1f}x"]
                 for name in latency.RUNTIMES]
    return [
        "## 3. Speed", "",
        "### Training steps per second", "",
        f"Batch {settings['batch_size']}, the seed-0 reference teacher, {settings['speed_epochs']} timed "
        f"epochs after a warm-up epoch, median of {settings['speed_repeats']} repeats. The baseline is the "
        "Keras documentation's distiller re-implemented in `tools/benchmarks/training_speed.py`.", "",
        _table(["variant", "steps/s", "steps/s vs baseline"], training), "",
        "### Inference latency per sample", "",
        f"One sample per call, median over {settings['latency_samples']} test samples "
        "(the int8 rows get pre-quantized int8 inputs; TFLite Micro is its Python interpreter on this host).", "",
        _table(["runtime", "µs per sample", "speed-up vs float Keras eager"], inference), "",
    ]


def markdown(results):
    """The whole report as markdown."""
    m, s = results["machine"], results["settings"]
    header = [
        "# tfkd benchmarks", "",
        f"Command: `{results['command']}`", "",
        f"Machine: {m['cpu']}, {m['cores']} usable cores (load average {m['load_average_at_start']} at start), "
        f"{m['platform']}; Python {m['python']}, TensorFlow {m['tensorflow']}, tf_keras {m['tf_keras']}, "
        f"TF-MOT {m['tfmot']}; {m['date']}. Total time {results['total_seconds']:.0f} s.", "",
        f"Data: {s['dataset']}, {s['train_samples']} training and {s['test_samples']} test samples. "
        f"Teacher {s['teacher_params']:,} params ({s['teacher_epochs']} epochs, lr {s['teacher_learning_rate']}), "
        f"student {s['student_params']:,} params ({s['student_epochs']} epochs, lr {s['student_learning_rate']}), "
        f"batch {s['batch_size']}, T={s['temperature']}, alpha={s['alpha']} unless the row says otherwise. "
        f"Compression: sparsity {s['target_sparsity']} over {s['prune_epochs']} epochs, {s['n_clusters']} clusters "
        f"over {s['cluster_epochs']}, QAT over {s['qat_epochs']}.", "",
    ]
    sections = _quality_section(results)
    if "ladder" in results:  # absent with --only quality
        sections += _ladder_section(results) + _speed_section(results)
    return "\n".join(header + sections)
