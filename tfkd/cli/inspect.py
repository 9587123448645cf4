"""``tfkd inspect MODEL.tflite``: operators, tensors, parameters, MACs, bytes and measured arena."""

import json
import os

from absl import flags

SUMMARY = ("Show a .tflite model's operators, tensors, parameters, MACs, bytes, measured arena and what "
           "tfkd codegen would need.")
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

    from tfkd.cli.codegen import streams_line, weights_line
    from tfkd.codegen import compile_model

    tflite_bytes = read_tflite(args, "inspect")
    info = describe(tflite_bytes, measure_arena=flag_values.arena)
    try:
        summary = compile_model(tflite_bytes)[1]
        codegen = {key: summary[key] for key in ("arena_bytes", "constant_bytes", "macs", "weights", "streamed")}
    except ValueError as e:
        codegen = {"unsupported": str(e)}
    if flag_values.json:
        print(json.dumps({**info.as_dict(), "codegen": codegen}, indent=2))
        return 0
    print(info.format_table())
    if "unsupported" in codegen:
        print(f"\ntfkd codegen: not supported: {codegen['unsupported']}")
    else:
        print(f"\ntfkd codegen: RAM {codegen['arena_bytes']:,} bytes of activations (plus stack), flash "
              f"{codegen['constant_bytes']:,} bytes of constants (plus code), {codegen['macs']:,} MACs")
        print(weights_line(codegen["weights"]))
        if codegen["streamed"]:
            print(streams_line(codegen["streamed"]))
    return 0
