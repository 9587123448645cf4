"""``tfkd inspect MODEL.tflite``: operators, tensors, parameters, MACs, bytes and measured arena."""

import json
import os

from absl import flags

SUMMARY = "Show a .tflite model's operators, tensors, parameters, MACs, bytes and measured arena."
USAGE = "MODEL.tflite [--json] [--noarena]"


def define_flags(flag_values):
    flags.DEFINE_boolean("json", False, "Print a JSON summary instead of tables.", flag_values=flag_values)
    flags.DEFINE_boolean(
        "arena", True, "Measure the TFLite Micro arena by allocating and invoking the model.", flag_values=flag_values
    )


def read_tflite(args, command):
    """The bytes of the one ``.tflite`` file named in ``args``."""
    if len(args) != 1:
        raise ValueError(f"expected exactly one MODEL.tflite argument, got {len(args)}: usage: tfkd {command} "
                         "MODEL.tflite ...")
    path = args[0]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        return f.read()


def main(flag_values, args):
    from tfkd.export.model_info import describe

    info = describe(read_tflite(args, "inspect"), measure_arena=flag_values.arena)
    print(json.dumps(info.as_dict(), indent=2) if flag_values.json else info.format_table())
    return 0
