"""Static memory plan: where every activation tensor lives, fixed at export time.

The graph output is written straight into the caller's ``output`` pointer. The graph input lives in
the arena like any activation, from before the first step to its last reader: the caller writes it
there (``<name>_input()``) or ``<name>_invoke`` copies it in, and its bytes serve later tensors once it
is read. (A model of RESHAPEs only reads its input from the caller's pointer.) Every other activation gets an offset
in one static arena; tensors whose lifetimes (first write to last read, counted in steps)
do not overlap may share bytes. RESHAPE outputs are aliases of their input and extend its
lifetime instead of taking memory. Placement is greedy, largest tensor first, at the lowest
offset that does not collide with an already placed tensor alive at the same time (the
strategy of TFLite Micro's GreedyMemoryPlanner). A step's output may also overlap an input that dies
at that step, as far as :mod:`tfkd.codegen.overlap` proves the kernel never overwrites a byte it has
still to read (element-wise operators in place; convolutions and pooling with their output starting a
computed number of bytes below their input).

A step may also ask for scratch bytes alive during that step only (a compressed filter decoded just
before its kernel runs, see :mod:`tfkd.codegen.weight_storage`): they are placed like a tensor that
lives from that step to that step, so they share bytes with activations that are not alive then, and the
arena grows by at most the largest scratch.
"""

import dataclasses

from tfkd.codegen import overlap, streaming
from tfkd.model import ModelError

# Offsets are kept word aligned so that the arena can be read with wider loads later.
ALIGNMENT = 4


@dataclasses.dataclass
class MemoryPlan:
    """``places[t]`` is "input", "output" or an arena byte offset for every activation tensor ``t``;
    ``places[("scratch", i)]`` the offset of step ``i``'s scratch."""

    arena_size: int
    places: dict
    # Set when the graph output aliases the graph input (a model of RESHAPEs only): copy at the end.
    copy_input_to_output: bool = False

    def place(self, tensor_index):
        return self.places[tensor_index]

    @property
    def input_offset(self):
        """Arena offset of the graph input, or None when it is read from the caller's pointer."""
        return self.places.get("graph_input")

    def scratch(self, step_index):
        """Arena offset of the scratch of step ``step_index``, or None when it has none."""
        return self.places.get(("scratch", step_index))


def _align(n):
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _in_place_leads(graph, steps, root, first, last):
    """``{(input, output): lead}`` for every step whose output may overlap an input that dies there, the
    output starting at least ``lead`` bytes below that input (:func:`tfkd.codegen.overlap.output_lead`)."""
    leads = {}
    for i, step in enumerate(steps):
        if step.function is None or first.get(step.output) != i:
            continue
        for k, arg in enumerate(step.args):
            if arg[0] != "tensor" or graph.tensors[arg[1]].data is not None or last[root[arg[1]]] != i:
                continue
            lead = step.output_lead(k) if isinstance(step, streaming.StreamStep) else overlap.output_lead(step, k)
            if lead is not None:
                leads[(root[arg[1]], step.output)] = _align(lead)
    return leads


def _extent(placed):
    return max((o + n for o, n in placed.values()), default=0) - min((o for o, _ in placed.values()), default=0)


def _place(order, sizes, first, last, leads):
    """Greedy placement of ``order``: each tensor where it grows the arena least without overwriting a
    tensor alive at the same time. Returns ``{tensor: (offset, size)}``; offsets may be negative."""
    placed = {}
    for t in order:
        size = sizes[t]
        # Open intervals of offsets where t would overwrite a tensor alive at the same time; their ends are
        # the candidate offsets (a low end of an in-place interval puts an output just below its input).
        forbidden, candidates = [], {0}
        for u, (u_offset, u_size) in placed.items():
            if not (first[u] <= last[t] and first[t] <= last[u]):
                continue
            if (u, t) in leads:  # t is written over u, which dies as t is written
                forbidden.append((u_offset - leads[(u, t)], u_offset + u_size))
            elif (t, u) in leads:  # u is written over t
                forbidden.append((u_offset - size, u_offset + leads[(t, u)]))
            else:
                forbidden.append((u_offset - size, u_offset + u_size))
            candidates.update(forbidden[-1])
        free = [c for c in candidates if not any(low < c < high for low, high in forbidden)]
        low_end = min((o for o, _ in placed.values()), default=0)
        high_end = max((o + n for o, n in placed.values()), default=0)
        # Ties go to the lowest offset: outputs are placed below the inputs they overwrite, so a plan that
        # grows downwards leaves room for the next in-place step.
        placed[t] = (min(free, key=lambda c: (max(high_end, c + size) - min(low_end, c), c)), size)
    return placed


def plan_memory(graph, steps, scratch=None):
    """Returns the :class:`MemoryPlan` of ``steps`` (from :func:`tfkd.codegen.lowering.lower`).

    ``scratch``: ``{step index: bytes}`` of arena each step needs during its own execution only."""
    root = {graph.input_indices[0]: graph.input_indices[0]}
    first, last = {}, {}
    for i, step in enumerate(steps):
        for arg in step.args:
            if arg[0] == "tensor" and graph.tensors[arg[1]].data is None:
                if arg[1] not in root:
                    raise ModelError(
                        f"{step.kind} (operator #{step.operator.index}) reads tensor "
                        f"{graph.tensors[arg[1]].name!r} before any operator writes it"
                    )
                last[root[arg[1]]] = i
        if step.function is None:
            root[step.output] = root[step.args[0][1]]
        else:
            root[step.output] = step.output
            # CONCATENATION writes its output in several steps; its life starts with the first.
            first.setdefault(step.output, i)
            last.setdefault(step.output, i)
    if graph.output_indices[0] not in root:
        raise ModelError(f"model output {graph.tensors[graph.output_indices[0]].name!r} is written by no operator")
    output_root = root[graph.output_indices[0]]
    input_root = graph.input_indices[0]
    places = {}
    if output_root == input_root:
        places[input_root] = "input"
    else:
        places[output_root] = "output"
        if input_root in last:
            first[input_root] = 0
    leads = _in_place_leads(graph, steps, root, first, last)
    sizes = {t: _align(graph.tensors[t].size) for t in first}
    for i, nbytes in (scratch or {}).items():
        if nbytes > 0:
            key = ("scratch", i)
            first[key] = last[key] = i
            sizes[key] = _align(nbytes)
    tensors = [t for t in first if t not in places]
    # Largest first packs unrelated tensors best; execution order lets a chain of in-place layers follow
    # its data. Both are cheap: keep the smaller arena.
    placed = min((_place(order, sizes, first, last, leads) for order in (
        sorted(tensors, key=lambda t: (-sizes[t], first[t])), sorted(tensors, key=lambda t: (first[t], -sizes[t])))),
        key=_extent)
    # An output placed below its input may start below 0: shift the whole plan up.
    base = min((offset for offset, _ in placed.values()), default=0)
    for t, (offset, _) in placed.items():
        places[t] = offset - base
    for alias, target in root.items():
        places[alias] = places[target]
    if isinstance(places.get(input_root), int):
        places["graph_input"] = places[input_root]
    arena_size = _extent(placed)
    return MemoryPlan(arena_size, places, copy_input_to_output=output_root == graph.input_indices[0])
