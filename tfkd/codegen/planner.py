"""Static memory plan: where every activation tensor lives, fixed at export time.

The graph input is read in place from the caller's ``input`` pointer and the graph output is
written straight into the caller's ``output`` pointer. Every other activation gets an offset
in one static arena; tensors whose lifetimes (first write to last read, counted in steps)
do not overlap may share bytes. RESHAPE outputs are aliases of their input and extend its
lifetime instead of taking memory. Placement is greedy, largest tensor first, at the lowest
offset that does not collide with an already placed tensor alive at the same time (the
strategy of TFLite Micro's GreedyMemoryPlanner).

A step may also ask for scratch bytes alive during that step only (a compressed filter decoded just
before its kernel runs, see :mod:`tfkd.codegen.weight_storage`): they are placed like a tensor that
lives from that step to that step, so they share bytes with activations that are not alive then, and the
arena grows by at most the largest scratch.
"""

import dataclasses

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

    def scratch(self, step_index):
        """Arena offset of the scratch of step ``step_index``, or None when it has none."""
        return self.places.get(("scratch", step_index))


def _align(n):
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


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
    places = {graph.input_indices[0]: "input"}
    if output_root != graph.input_indices[0]:
        places[output_root] = "output"
    placed = []  # (offset, size, first, last)
    sizes = {t: graph.tensors[t].size for t in first}
    for i, nbytes in (scratch or {}).items():
        if nbytes > 0:
            key = ("scratch", i)
            first[key] = last[key] = i
            sizes[key] = nbytes
    order = sorted((t for t in first if t not in places), key=lambda t: (-sizes[t], first[t]))
    for t in order:
        size = _align(sizes[t])
        offset = 0
        for other_offset, other_size, other_first, other_last in sorted(placed):
            alive_together = other_first <= last[t] and first[t] <= other_last
            if alive_together and offset < other_offset + other_size and other_offset < offset + size:
                offset = _align(other_offset + other_size)
        placed.append((offset, size, first[t], last[t]))
        places[t] = offset
    for alias, target in root.items():
        places[alias] = places[target]
    arena_size = max((offset + size for offset, size, _, _ in placed), default=0)
    return MemoryPlan(arena_size, places, copy_input_to_output=output_root == graph.input_indices[0])
