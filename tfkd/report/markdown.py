"""``report.md``: the demo's report for people, rendered from the ``report.json`` dict."""


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _accuracy(value):
    return f"{value * 100:.2f}%"


def _stage_table(report):
    rows = [
        ("teacher (fp32)", "teacher", "accuracy", "fp32 weights"),
        ("student from scratch", "student_scratch", "accuracy", None),
        ("student from scratch, same augmentation and epochs", "student_scratch_augmented", "accuracy", None),
        ("distilled student, textbook settings", "student_distilled_textbook", "accuracy", None),
        ("distilled student, tfkd recipe (fp32)", "student_distilled", "accuracy", "fp32 weights"),
        ("pruned, teacher-guided", "student_pruned", "accuracy", None),
        ("clustered, teacher-guided", "student_clustered", "accuracy", None),
        ("QAT, teacher-guided", "student_qat", "accuracy", None),
        ("int8 on LiteRT", "int8", "litert_accuracy", None),
        ("int8 on TFLite Micro", "int8", "tflm_accuracy", None),
    ]
    lines = [_row(["stage", "test accuracy", "sparsity", "gzip bytes"]), _row(["---", "---:", "---:", "---:"])]
    for name, key, accuracy_key, _ in rows:
        if key not in report:  # reports written before the fair baselines existed
            continue
        stage = report[key]
        sparsity = f"{stage['sparsity']:.1%}" if "sparsity" in stage else ""
        lines.append(_row([name, _accuracy(stage[accuracy_key]), sparsity, stage.get("gzip_bytes", "")]))
    return "\n".join(lines)


def _deployment(report):
    i = report["int8"]
    lines = [
        f"- int8 `.tflite`: **{i['tflite_bytes']:,} bytes** ({i['params']:,} parameters, {i['macs']:,} MACs per "
        f"inference, ops: {', '.join(i['ops'])})",
        f"- compression: teacher fp32 {report['teacher']['fp32_bytes']:,} bytes / int8 {i['tflite_bytes']:,} bytes = "
        f"**{i['compression_ratio']:.1f}x**, costing {i['accuracy_cost_vs_teacher'] * 100:+.2f} accuracy points "
        f"against the teacher and {i['accuracy_cost_vs_qat'] * 100:+.2f} against the QAT float model",
        f"- TFLite Micro arena: **{i['arena_bytes']:,} bytes** (measured by trying)",
        f"- LiteRT (reference kernels) vs TFLite Micro: at most {i['litert_tflm_max_lsb']} LSB apart, top-1 "
        f"agreement {i['litert_tflm_top1_agreement']:.2%}; agreement with the float model {i['float_agreement']:.2%}",
    ]
    if "float_io" in report:
        f = report["float_io"]
        lines.append(f"- Android model (float in/out): {f['tflite_bytes']:,} bytes, LiteRT accuracy "
                     f"{_accuracy(f['litert_accuracy'])}")
    codegen = report.get("codegen", {})
    if "flash_bytes" in codegen:
        lines.append(
            f"- ahead-of-time C on Cortex-M4 (QEMU mps2-an386): {codegen['flash_bytes']:,} bytes flash, "
            f"{codegen['ram_bytes']:,} bytes RAM ({codegen['arena_bytes']:,} activations + {codegen['stack_bytes']:,} "
            f"stack), {codegen['instructions_per_inference']:,} instructions per inference "
            f"({codegen['instructions_per_mac']} per MAC), bit-exact with {codegen.get('reference', 'TFLite Micro')}: "
            f"{codegen.get('matches_reference', codegen['matches_tflm'])}"
        )
    elif codegen:
        lines.append(f"- ahead-of-time C on Cortex-M4: skipped ({codegen['skipped']})")
    return "\n".join(lines)


def _recipe(report):
    chosen = report["student_distilled"].get("recipe")
    if not chosen:
        return ""
    text = (f"The distilled student used the **{chosen['name']}** recipe (asked for: {chosen['requested']}): "
            f"augmentation {chosen['augment']}, mixup {chosen['mixup']}, T={chosen['temperature']}, "
            f"alpha={chosen['alpha']}, {chosen['epochs']} epochs, {chosen['schedule']} learning rate "
            f"from {chosen['learning_rate']}.")
    scores = chosen.get("held_out_accuracy")
    if scores:
        text += " Auto's candidates on labelled samples held out from training: " + ", ".join(
            f"{name} {_accuracy(value)}" for name, value in scores.items()) + "."
    return text


def render(report):
    """Markdown text for ``report`` (the dict ``tfkd.demo.run`` writes as report.json)."""
    d = report["dataset"]
    parts = [
        "# tfkd report",
        f"Dataset **{d['name']}**: {d['train_samples']} training and {d['test_samples']} test samples, "
        f"{d['classes']} classes. Accuracies are on the held-out test split.",
        "## Stages",
        _stage_table(report),
        _recipe(report),
        "## Deployment",
        _deployment(report),
        "## Timings",
        "\n".join([_row(["stage", "seconds"]), _row(["---", "---:"])]
                  + [_row([k, f"{v:.1f}"]) for k, v in report.get("timings_s", {}).items()]),
    ]
    if report.get("plots"):
        parts += ["## Plots"] + [f"![{p}]({p})" for p in report["plots"]]
    return "\n\n".join(part for part in parts if part) + "\n"
