"""Row streaming: two windowed layers run one output row at a time, so the tensor between them never exists whole.

A CONV_2D or DEPTHWISE_CONV_2D whose output only feeds the next CONV_2D or DEPTHWISE_CONV_2D can hand it rows
as it makes them: the next layer's window needs ``(filter_height - 1) * dilation + 1`` of them at once, so
that tensor shrinks to a window of rows in the step's scratch. An element-wise ADD, SUB or MUL that takes the
second layer's output joins the stream too (a residual block's skip connection): it runs on each finished
row, which then needs one row of scratch instead of a whole tensor, and it may write its output over the
skip input as it goes. ``kernels/tfkd_stream.c`` runs the chain: it pulls rows through the layers, calling
each layer's ordinary kernel on the band of input rows one output row needs, so the results are the
kernels' own, bit for bit.

A stream is one :class:`StreamStep` to the memory planner: it reads the chain input (and the element-wise
operator's other input), writes the last output, and asks for scratch for the windows. The generator
streams a chain only where that makes the arena smaller (:func:`stream`), since each row costs a kernel
call and input rows are reread at band edges.
"""

import dataclasses

from tfkd.codegen import overlap
from tfkd.codegen.checks import Step

LAYER_FUNCTIONS = ("tfkd_conv2d", "tfkd_depthwise_conv2d")
# Which chains compile_model's ``stream`` streams: "auto" leaves out DEPTHWISE_CONV_2D, whose Cortex-M4 kernel
# sets up each channel group once per call, so that one call per row costs it far more (see BENCHMARKS.md).
MODES = ("auto", "all", "off")
_MODE_FUNCTIONS = {"auto": ("tfkd_conv2d",), "all": LAYER_FUNCTIONS, "off": ()}
TAIL_FUNCTIONS = ("tfkd_add", "tfkd_mul")
# The C driver keeps its per-layer state on the stack for at most this many layers.
MAX_LAYERS = 8
_ALIGNMENT = 4


def _align(n):
    return (n + _ALIGNMENT - 1) // _ALIGNMENT * _ALIGNMENT


def input_rows(params, out_row):
    """``(lo, hi)``: the input rows output row ``out_row`` of a windowed layer reads, clipped to the image."""
    origin = out_row * params["stride_height"] - params["pad_height"]
    end = origin + (params["filter_height"] - 1) * params["dilation_height"] + 1
    return max(origin, 0), min(end, params["input_height"])


def _row_bytes(params, role):
    depth = params["input_depth"] if role == "input" else params["output_depth"]
    return params[f"{role}_width"] * depth


def schedule(layers):
    """The order ``kernels/tfkd_stream.c`` computes rows in: ``[(layer, row, lo, hi)]`` with the input rows
    ``[lo, hi)`` each call reads, and each intermediate layer's window capacity in rows (the most rows it
    ever holds), as ``(calls, capacities)``."""
    params = [layer.params for layer in layers]
    next_row = [0] * len(layers)
    first = [0] * len(layers)
    capacities = [0] * len(layers)
    calls = []

    def pull(j):
        row = next_row[j]
        lo, hi = input_rows(params[j], row)
        if j > 0:
            while next_row[j - 1] < hi:
                pull(j - 1)
        if j + 1 < len(layers):
            # The rows layer j + 1's current window no longer needs are dropped before this one is added.
            first[j] = max(first[j], input_rows(params[j + 1], next_row[j + 1])[0])
            capacities[j] = max(capacities[j], row - first[j] + 1)
        calls.append((j, row, lo, hi))
        next_row[j] = row + 1

    while next_row[-1] < params[-1]["output_height"]:
        pull(len(layers) - 1)
    return calls, capacities


@dataclasses.dataclass
class StreamStep(Step):
    """Windowed ``layers`` (and an element-wise ``tail`` or None) run row by row as one step.

    ``args`` are the tensors the stream reads from the arena: the chain input, then the tail's other input
    when it has one of its own. ``capacities[j]`` is the rows of layer ``j``'s output kept in scratch
    (the last layer's: 1 with a tail, else its whole output, which is the step's output)."""

    layers: list = dataclasses.field(default_factory=list)
    tail: Step = None
    capacities: list = dataclasses.field(default_factory=list)
    leads: dict = dataclasses.field(default_factory=dict)

    @property
    def tail_streamed_argument(self):
        """Which of the tail's two inputs is the streamed row (0 or 1)."""
        return [arg[1] for arg in self.tail.args].index(self.layers[-1].output)

    def scratch_parts(self):
        """``[(role, bytes)]`` of the stream's scratch, in the order it is laid out: each intermediate
        layer's row window, then the tail's row."""
        parts = [(f"window{j}", _align(self.capacities[j] * _row_bytes(layer.params, "output")))
                 for j, layer in enumerate(self.layers[:-1])]
        if self.tail is not None:
            parts.append(("row", _align(_row_bytes(self.layers[-1].params, "output"))))
        return parts

    @property
    def scratch_bytes(self):
        return sum(size for _, size in self.scratch_parts())

    def output_lead(self, argument):
        """As :func:`tfkd.codegen.overlap.output_lead`: bytes by which the output must start below
        ``args[argument]`` to overlap it safely."""
        return self.leads.get(argument)


def _leads(layers, tail, args, calls):
    """``{argument: lead}``: how far below each read tensor the stream's output may start.

    Writes happen by whole rows (the last layer's, or the tail's); for each, the lowest byte of that
    tensor still to be read then or later bounds how far up the write may reach. The tail reads its other
    input's row as it writes the same row, element by element, which exact overlap allows."""
    first, last = layers[0].params, layers[-1].params
    out_row = _row_bytes(last, "output")
    reads = {k: [] for k in range(len(args))}  # per argument: (time, lowest byte read)
    writes = []  # (time, end byte written)
    other = [a[1] for a in tail.args if a[1] != layers[-1].output][0] if tail is not None else None
    for n, (j, row, lo, _) in enumerate(calls):
        if j == 0:
            reads[0].append((n, lo * _row_bytes(first, "input")))
        if j == len(layers) - 1:
            # The tail runs right after the last layer's call: at time n + 0.5.
            written_at = n if tail is None else n + 0.5
            writes.append((written_at, (row + 1) * out_row))
            for k, arg in enumerate(args):
                if arg[1] == other:
                    reads[k].append((written_at, row * out_row))
    leads = {}
    for k, events in reads.items():
        lead = 0
        for n, end in writes:
            pending = [byte for m, byte in events if m > n]  # a read at the write's own time is element-wise
            if pending:
                lead = max(lead, end - min(pending))
        leads[k] = _align(lead)
    return leads


def _only_reader(steps, tensor, reader):
    return [i for i, s in enumerate(steps) for arg in s.args if arg[0] == "tensor" and arg[1] == tensor] == [reader]


def candidates(graph, steps, compressed=(), mode="all"):
    """``[(first step index, StreamStep)]``: each pair of adjacent windowed steps (and the element-wise step
    right after, when it takes their output) that can stream under ``mode`` (:data:`MODES`), in execution
    order. Filters stored compressed (step indices in ``compressed``) are left out: they decode into a
    step's scratch."""
    found = []
    graph_output = graph.output_indices[0]
    functions = _MODE_FUNCTIONS[mode]
    for i in range(len(steps) - 1):
        a, b = steps[i], steps[i + 1]
        if not (a.function in functions and b.function in functions) or {i, i + 1} & set(compressed):
            continue
        if b.args[0] != ("tensor", a.output) or a.output == graph_output or not _only_reader(steps, a.output, i + 1):
            continue
        layers, tail, end = [a, b], None, i + 1
        if i + 2 < len(steps):
            c = steps[i + 2]
            tensors = [arg[1] for arg in c.args]
            others = [t for t in tensors if t != b.output]
            if (c.function in TAIL_FUNCTIONS and tensors.count(b.output) == 1 and len(others) == 1
                    and graph.tensors[others[0]].data is None and all(overlap.full_shape_input(c, k) for k in (0, 1))
                    and b.output != graph_output and _only_reader(steps, b.output, i + 2)):
                tail, end = c, i + 2
        output = (tail or b).output
        if output == graph_output:
            continue
        args = [("tensor", a.args[0][1])]
        if tail is not None:
            other = [arg[1] for arg in tail.args if arg[1] != b.output][0]
            if other != a.args[0][1]:
                args.append(("tensor", other))
        calls, capacities = schedule(layers)
        capacities[-1] = 1 if tail is not None else b.params["output_height"]
        step = StreamStep(operator=a.operator, function="tfkd_stream", params_type=None, params={}, args=args,
                          output=output, macs=sum(s.macs for s in steps[i:end + 1]), layers=layers, tail=tail,
                          capacities=capacities, leads=_leads(layers, tail, args, calls))
        found.append((i, step))
    return found


def apply(steps, chosen):
    """``(steps, index_map)``: ``steps`` with each chosen ``(first index, StreamStep)`` in place of the steps
    it covers, and ``{old index: new index}`` for the steps left as they were."""
    covered = {i: stream for i, stream in chosen}
    result, index_map, i = [], {}, 0
    while i < len(steps):
        if i in covered:
            stream = covered[i]
            result.append(stream)
            i += len(stream.layers) + (stream.tail is not None)
            continue
        index_map[i] = len(result)
        result.append(steps[i])
        i += 1
    return result, index_map
