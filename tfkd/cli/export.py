"""``tfkd export MODEL --data NPZ --out DIR``: int8 and float-I/O TFLite, verification, C arrays, budgets.

Writes ``model_int8.tflite`` (int8 in and out, for MCUs), ``model_float_io.tflite``
(float in and out around the int8 graph, for Android), ``labels.txt``,
``verification.json`` and ``micro/`` (the C++ sources of :func:`tfkd.export.write_c_arrays`);
with ``--arduino``, also ``<arduino_name>.zip``, an Arduino library holding the int8 model.
Flash is the int8 flatbuffer's bytes (the model array in flash, without the TFLite
Micro runtime); RAM is ``kTensorArenaSize`` (measured arena plus margin). The
artifacts are written even when a budget is exceeded, so that they can be inspected;
the exit code is then :data:`BUDGET_EXCEEDED`.
"""

import json
import os
import re
import sys

from absl import flags

from tfkd.cli.c_array import read_labels

SUMMARY = "Convert a Keras model to int8 and float-I/O TFLite, verify it, write C arrays and check budgets."
USAGE = "MODEL --data NPZ --out DIR [--flash_budget 256K] [--ram_budget 64K] [--labels FILE] [--arduino]"
BUDGET_EXCEEDED = 3
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def define_flags(flag_values):
    flags.DEFINE_string("data", None, ".npz file with x_train, y_train, x_test, y_test.", flag_values=flag_values)
    flags.DEFINE_string("out", None, "Output directory (created; other files in it are kept).", flag_values=flag_values)
    flags.DEFINE_string("flash_budget", None, "Largest model flatbuffer allowed, e.g. 256K.", flag_values=flag_values)
    flags.DEFINE_string("ram_budget", None, "Largest tensor arena allowed, e.g. 64K.", flag_values=flag_values)
    flags.DEFINE_string("labels", None, "Text file with one class label per line.", flag_values=flag_values)
    flags.DEFINE_string("name", "g_model", "C++ name of the model array.", flag_values=flag_values)
    flags.DEFINE_integer(
        "representative_samples", 200, "Training samples that calibrate the int8 ranges.", lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_boolean(
        "arduino", False, "Also write an Arduino library zip (library.properties, src/) for Add .ZIP Library.",
        flag_values=flag_values,
    )
    flags.DEFINE_string("arduino_name", "tfkd_model", "Name of the Arduino library and of its zip.",
                        flag_values=flag_values)
    flags.mark_flag_as_required("data", flag_values=flag_values)
    flags.mark_flag_as_required("out", flag_values=flag_values)


def parse_size(text, flag):
    """Bytes in ``text`` such as ``65536``, ``64K``, ``1.5M`` or ``256KiB`` (K = 1024); ``None`` stays ``None``."""
    if text is None:
        return None
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"--{flag}={text!r} is not a size; expected bytes with an optional K or M suffix, e.g. 64K")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _budget_line(what, measured, allowed):
    if allowed is None:
        return f"{what}: {measured:,} bytes (no budget)"
    verdict = "within" if measured <= allowed else "OVER"
    return f"{what}: {measured:,} bytes of {allowed:,} allowed ({measured / allowed:.0%}, {verdict} budget)"


def main(flag_values, args):
    flash_budget = parse_size(flag_values.flash_budget, "flash_budget")
    ram_budget = parse_size(flag_values.ram_budget, "ram_budget")
    if len(args) != 1:
        raise ValueError(f"expected exactly one MODEL argument, got {len(args)}: usage: tfkd export {USAGE}")
    if not flag_values.data.endswith(".npz"):
        raise ValueError(f"--data={flag_values.data!r} is not an .npz file; expected x_train, y_train, x_test, y_test")
    from tfkd.files import atomic_write_bytes, atomic_write_text, check_output_dir

    out_dir = check_output_dir(flag_values.out)
    labels = read_labels(flag_values.labels)
    if flag_values.arduino:
        from tfkd.export.arduino import check_library_name

        check_library_name(flag_values.arduino_name)  # before the slow conversion, not after it

    import shutil
    import tempfile

    from tfkd import pipeline

    say = (lambda *a: None) if flag_values.quiet else print
    work_dir = tempfile.mkdtemp(prefix="tfkd-export-")
    try:
        run = pipeline.Pipeline(work_dir, log=say, total=6 + flag_values.arduino)
        data = run.run(pipeline.Data(pipeline.Data.Config(flag_values.data)))
        labels = tuple(labels or data.class_names)
        if any("\n" in label or "\r" in label for label in labels):
            raise ValueError("class labels contain line breaks; expected one label per line of labels.txt")
        model = run.run(pipeline.Given(pipeline.Given.Config(path=args[0]), data=data))
        converted = run.run(pipeline.Convert(pipeline.Convert.Config(flag_values.representative_samples),
                                             data=data, model=model))
        verified = run.run(pipeline.Verify(data=data, converted=converted, model=model))
        emit = dict(data=data, converted=converted, verified=verified)
        run.run(pipeline.CArrays(pipeline.CArrays.Config(name=flag_values.name, labels=labels), **emit))
        run.run(pipeline.Android(pipeline.Android.Config(labels=labels), **emit))
        emitted = ["micro", "android"]
        if flag_values.arduino:
            run.run(pipeline.Arduino(pipeline.Arduino.Config(library=flag_values.arduino_name,
                                                             model_name=flag_values.name, labels=labels), **emit))
            emitted.append("arduino")
        flash, arena = len(converted.int8), verified.arena_bytes_with_margin
        report = {
            "model": os.path.abspath(args[0]),
            "int8": {**verified.int8, "arena_bytes": verified.arena_bytes},
            "float_io": verified.float_io,
            "budgets": {"flash_bytes": flash, "flash_budget": flash_budget, "ram_bytes": arena, "ram_budget": ram_budget},
        }

        def write(staging):
            atomic_write_bytes(os.path.join(staging, "model_int8.tflite"), converted.int8)
            atomic_write_text(os.path.join(staging, "verification.json"), json.dumps(report, indent=2) + "\n")

        run.publish(out_dir, emitted, write)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    result = report["int8"]
    say(f"int8 accuracy: LiteRT {result['litert_accuracy']:.4f}, TFLite Micro {result['tflm_accuracy']:.4f}, "
        f"float {result['float_accuracy']:.4f}; LiteRT vs TFLite Micro: max {result['litert_tflm_max_lsb']} LSB, "
        f"top-1 agreement {result['litert_tflm_top1_agreement']:.4f}")
    if result["litert_tflm_max_lsb"] > 1 or result["litert_tflm_top1_agreement"] < 1:
        print("tfkd export: warning: LiteRT and TFLite Micro differ by more than 1 LSB or in the top class",
              file=sys.stderr)
    print(_budget_line("flash (model flatbuffer)", flash, flash_budget))
    print(_budget_line("RAM (tensor arena incl. margin)", arena, ram_budget))
    print(f"wrote {out_dir}")
    over = [(what, measured_bytes, allowed) for what, measured_bytes, allowed in
            (("flash", flash, flash_budget), ("RAM", arena, ram_budget))
            if allowed is not None and measured_bytes > allowed]
    if over:
        detail = "; ".join(f"{what} {value:,} bytes > {allowed:,} allowed" for what, value, allowed in over)
        print(f"tfkd export: error: budget exceeded: {detail}", file=sys.stderr)
        return BUDGET_EXCEEDED
    return 0
