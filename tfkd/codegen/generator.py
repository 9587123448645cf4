"""``generate``: an int8 .tflite model in, a dependency-free C99 implementation of it out."""

import importlib.resources
import re

from tfkd import c_writer
from tfkd.codegen import emitter, float_io, lowering, planner, streaming, weight_storage

KERNEL_HEADER = "tfkd_kernels.h"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def kernel_source(filename):
    """The text of one of the packaged kernel sources (``tfkd_kernels.h``, ``tfkd_conv2d.c``, ...)."""
    return importlib.resources.files("tfkd.codegen").joinpath("kernels", filename).read_text(encoding="utf-8")


def check_name(name):
    """Raises ValueError unless ``name`` can prefix C identifiers and name files."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or name.startswith("tfkd_"):
        raise ValueError(f"name={name!r} is invalid; expected a C identifier such as 'model' (not starting with 'tfkd_')")
    return name


def compile_model(tflite_bytes, name="model", weights="auto", stream="auto"):
    """Returns ``(sources, summary)``: file name -> C text, and a summary dict of the generated code.

    ``weights``: "auto" stores each filter in the smallest of dense, 4-bit table indices and sparse formats
    (:mod:`tfkd.codegen.weight_storage`: less flash, a decode into arena scratch before each compressed
    layer, so more RAM and instructions); "dense" keeps every filter a plain int8 array. The summary's
    ``weights`` section gives dense and stored filter bytes and each layer's format. ``stream``: run
    chains of layers row by row where that makes the arena smaller (:mod:`tfkd.codegen.streaming`):
    "auto" streams chains of CONV_2D layers (ResNet-8: 26% less arena for 0.13% more instructions on a
    Cortex-M4); "all" also chains with a DEPTHWISE_CONV_2D, whose kernel sets up per call (DS-CNN: 13% less
    arena for 18.7% more instructions; MobileNetV1-0.25: 29% for 3.8%); "off" runs every operator whole.
    """
    check_name(name)
    if stream not in streaming.MODES:
        raise ValueError(f"stream={stream!r} is invalid; expected one of {streaming.MODES}")
    graph, float_boundary = lowering.read_graph(tflite_bytes)
    steps = lowering.lower(graph)
    storage = weight_storage.choose(graph, steps, weights)
    run_steps, run_storage, plan = _streamed_plan(graph, steps, storage, stream)
    macs = sum(step.macs for step in steps)
    sources = {
        f"{name}.h": emitter.render_header(name, graph, plan, macs, len(tflite_bytes), float_boundary),
        f"{name}.c": emitter.render_source(name, graph, run_steps, plan, run_storage),
        KERNEL_HEADER: kernel_source(KERNEL_HEADER),
    }
    # Only the kernels this model calls, so that flash holds no unused code.
    for filename in sorted({lowering.KERNEL_SOURCES[step.kind] for step in steps} - {None}):
        sources[filename] = kernel_source(filename)
    if len(run_steps) < len(steps):
        sources["tfkd_stream.h"] = kernel_source("tfkd_stream.h")
        sources["tfkd_stream.c"] = kernel_source("tfkd_stream.c")
    if weight_storage.compressed(storage):
        sources["tfkd_weights.c"] = kernel_source("tfkd_weights.c")
    inp, out = graph.tensors[graph.input_indices[0]], graph.tensors[graph.output_indices[0]]
    if float_boundary:
        sources[f"{name}_float_io.c"] = float_io.render_source(name, float_boundary, inp.size, out.size,
                                                               plan.input_offset is not None)
        sources["tfkd_float_io.c"] = kernel_source("tfkd_float_io.c")
    summary = {
        "float_input": bool(float_boundary and float_boundary.input),
        "float_output": bool(float_boundary and float_boundary.output),
        "constant_bytes": constant_bytes(graph, steps, storage),
        "weights": weight_storage.report(graph, steps, storage),
        "name": name,
        "ops": [step.kind for step in steps],
        "macs": int(macs),
        "arena_bytes": int(plan.arena_size),
        # Operators run row by row as one stream (tfkd.codegen.streaming), by operator index.
        "streamed": [[s.operator.index for s in step.layers + ([step.tail] if step.tail else [])]
                     for step in run_steps if isinstance(step, streaming.StreamStep)],
        # The arena holds the input (<name>_input()): the caller needs no input buffer of its own.
        "input_in_arena": plan.input_offset is not None,
        "input_size": inp.size,
        "output_size": out.size,
        "input_shape": list(inp.shape),
        "output_shape": list(out.shape),
        "tflite_bytes": len(tflite_bytes),
    }
    return sources, summary


def _plan(graph, steps, chosen, storage):
    run_steps, index_map = streaming.apply(steps, chosen)
    run_storage = {index_map[i]: e for i, e in storage.items() if i in index_map}
    scratch = {index_map[i]: n for i, n in weight_storage.scratch_sizes(storage).items() if i in index_map}
    scratch.update({i: step.scratch_bytes for i, step in enumerate(run_steps) if isinstance(step, streaming.StreamStep)})
    return run_steps, run_storage, planner.plan_memory(graph, run_steps, scratch=scratch)


def _streamed_plan(graph, steps, storage, stream="auto"):
    """``(steps to run, their weight storage, memory plan)``: the lowered steps with the chains that make the
    arena smaller streamed row by row (:mod:`tfkd.codegen.streaming`). Streaming one chain can move the peak
    elsewhere, so the candidates are tried again until none helps."""
    candidates = streaming.candidates(graph, steps, weight_storage.compressed(storage), stream)
    chosen, best = [], _plan(graph, steps, [], storage)
    improved = True
    while improved:
        improved = False
        for first, chain in candidates:
            span = set(range(first, first + len(chain.layers) + (chain.tail is not None)))
            if any(span & set(range(i, i + len(c.layers) + (c.tail is not None))) for i, c in chosen):
                continue
            trial = _plan(graph, steps, sorted(chosen + [(first, chain)], key=lambda pair: pair[0]), storage)
            if trial[2].arena_size < best[2].arena_size:
                chosen, best, improved = sorted(chosen + [(first, chain)], key=lambda pair: pair[0]), trial, True
    return best


def constant_bytes(graph, steps, storage=None):
    """Bytes of the const arrays the generated C holds (weights, biases, multipliers, tables): its flash
    use apart from code. Filters stored compressed (``storage`` from :func:`weight_storage.choose`) count
    their stored bytes, decoder parameters included."""
    packed = weight_storage.compressed(storage or {})

    def stored(i, k, arg):
        return not (i in packed and k == weight_storage.FILTER_ARG)

    tensors = {arg[1] for i, step in enumerate(steps) for k, arg in enumerate(step.args)
               if arg[0] == "tensor" and graph.tensors[arg[1]].data is not None and stored(i, k, arg)}
    arrays = sum(len(arg[2]) * (1 if arg[1] in ("int8_t", "uint8_t") else 4)
                 for i, step in enumerate(steps) for k, arg in enumerate(step.args)
                 if arg[0] == "array" and stored(i, k, arg))
    return int(sum(graph.tensors[t].data.nbytes for t in tensors) + arrays
               + sum(e.stored_bytes for e in packed.values()))


def generate(tflite_bytes, out_dir, name="model", weights="auto", stream="auto"):
    """Writes ``<name>.h``, ``<name>.c`` and the kernel sources the model needs into ``out_dir``.

    Returns the summary of :func:`compile_model` plus ``files``, the written paths. Nothing is
    written when the model cannot be compiled (for example an unsupported operator). ``weights`` and
    ``stream``: as for :func:`compile_model`.
    """
    sources, summary = compile_model(tflite_bytes, name, weights, stream)
    summary["files"] = list(c_writer.write_sources(out_dir, sources).values())
    return summary
