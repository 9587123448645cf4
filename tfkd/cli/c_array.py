"""``tfkd c-array MODEL.tflite --out DIR``: C++ sources that put an existing model into firmware."""

from absl import flags

from tfkd.cli.inspect import read_tflite

SUMMARY = "Write model_data.h/.cc, model_settings.h and model_ops.h for an existing .tflite model."
USAGE = "MODEL.tflite --out DIR [--name g_model] [--labels FILE]"


def define_flags(flag_values):
    flags.DEFINE_string("out", None, "Output directory (created; other files in it are kept).", flag_values=flag_values)
    flags.DEFINE_string("name", "g_model", "C++ name of the model array.", flag_values=flag_values)
    flags.DEFINE_string("labels", None, "Text file with one class label per line.", flag_values=flag_values)
    flags.DEFINE_boolean(
        "allow_float", False, "Accept a model whose input, output or operators are not int8.", flag_values=flag_values
    )
    flags.mark_flag_as_required("out", flag_values=flag_values)


def read_labels(path):
    """One label per line of ``path``; ``None`` when ``path`` is ``None``."""
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        labels = f.read().splitlines()
    if not labels:
        raise ValueError(f"labels file {path!r} is empty; expected one class label per line")
    return labels


def main(flag_values, args):
    from tfkd.export.c_arrays import write_c_arrays

    paths = write_c_arrays(
        read_tflite(args, "c-array"),
        flag_values.out,
        name=flag_values.name,
        labels=read_labels(flag_values.labels),
        require_int8=not flag_values.allow_float,
    )
    if not flag_values.quiet:
        for path in paths.values():
            print(path)
    return 0
