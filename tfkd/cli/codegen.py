"""``tfkd codegen MODEL.tflite --out DIR``: plain C99 for an int8 model, with no runtime at all."""

from absl import flags

from tfkd.cli.inspect import read_tflite

SUMMARY = "Generate dependency-free C (model.h, model.c, kernels) for an int8 .tflite model; measure it on a Cortex-M4."
USAGE = "MODEL.tflite --out DIR [--name model] [--weights auto|dense] [--stream auto|all|off] [--nomeasure]"


def define_flags(flag_values):
    flags.DEFINE_string("out", None, "Output directory (created; other files in it are kept).", flag_values=flag_values)
    flags.DEFINE_string("name", "model", "C prefix: <name>.h, <name>.c and <name>_invoke().", flag_values=flag_values)
    flags.DEFINE_enum(
        "weights", "auto", ["auto", "dense"],
        "auto: store each filter in the smallest of dense int8, 4-bit indices into tables of <= 16 values and "
        "sparse (bitmap of nonzeros) formats, decoded into the arena before its layer runs (less flash; more RAM "
        "and instructions); dense: plain int8 arrays.",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "stream", "auto", ["auto", "all", "off"],
        "Run chains of layers row by row where that makes the arena smaller, so the tensors between them never "
        "exist whole: auto: chains of CONV_2D (a residual block's ADD included); all: also chains with a "
        "DEPTHWISE_CONV_2D (less RAM again, more instructions); off: every operator on whole tensors.",
        flag_values=flag_values,
    )
    flags.DEFINE_boolean(
        "measure", True, "Build for Cortex-M4 and run in QEMU to report flash, RAM and instructions.",
        flag_values=flag_values,
    )
    flags.mark_flag_as_required("out", flag_values=flag_values)


def _report(m):
    return "\n".join([
        f"{m['target']}: bit-exact with {m['reference']} on {m['samples']} samples: "
        f"{'yes' if m['matches_reference'] else 'NO'}"
        + ("" if m["matches_tflm"] == m["matches_reference"] else
           " (TFLite Micro computes the model as converted wrongly: it keeps the batch-1 shapes the converter "
           "stores around a dilated convolution, so the reference runs it with that convolution folded)"),
        f"  flash  {m['flash_bytes']:>9} bytes   (code + weights; the .tflite alone is {m['tflite_bytes']} bytes)",
        f"  RAM    {m['ram_bytes']:>9} bytes   (arena {m['arena_bytes']} + stack {m['stack_bytes']} + data "
        f"{m['data_bytes']}; TFLite Micro needs a {m['tflm_arena_bytes']}-byte arena)",
        f"  instructions per inference {m['instructions_per_inference']}, per MAC {m['instructions_per_mac']} "
        f"({m['macs']} MACs)",
    ])


def weights_line(w):
    formats = ", ".join(f"{count} {fmt}" for fmt, count in w["formats"].items() if count)
    line = (f"weights: {w['stored_bytes']} bytes stored for {w['dense_bytes']} dense ({w['ratio']}x); "
            f"layers: {formats or 'none'}")
    if w["scratch_bytes"]:
        line += (f"; compressed layers decode into up to {w['scratch_bytes']} bytes of arena scratch before they run "
                 "(counted in RAM; --weights dense saves that RAM and the decoding time at the cost of flash)")
    return line


def streams_line(streamed):
    chains = "; ".join(" -> ".join(f"#{i}" for i in chain) for chain in streamed)
    return f"streamed row by row, so the tensors inside never exist whole (operators): {chains}"


def main(flag_values, args):
    from tfkd.codegen import cortex_m4, generate, measure

    tflite_bytes = read_tflite(args, "codegen")
    summary = generate(tflite_bytes, flag_values.out, name=flag_values.name, weights=flag_values.weights,
                       stream=flag_values.stream)
    if not flag_values.quiet:
        for path in summary["files"]:
            print(path)
        print(f"ops: {', '.join(dict.fromkeys(summary['ops']))}")
        print(f"expected: RAM {summary['arena_bytes']} bytes of activations (plus stack), flash "
              f"{summary['constant_bytes']} bytes of constants (plus code), {summary['macs']} MACs per inference")
        print(weights_line(summary["weights"]))
        if summary["streamed"]:
            print(streams_line(summary["streamed"]))
    if not flag_values.measure:
        return 0
    missing = cortex_m4.missing_tools()
    if missing:
        print(f"footprint not measured: {', '.join(missing)} not found on PATH "
              "(install gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm)")
        return 0
    m = measure(tflite_bytes, name=flag_values.name, weights=flag_values.weights, stream=flag_values.stream)
    print(_report(m))
    return 0 if m["matches_reference"] else 1
