"""Compressed weight storage: 4-bit indices into small tables, and sparse layers as a bitmap of nonzeros.

Pruning and clustering leave the int8 weights of a layer with many zeros or few distinct values, which a
dense ``const int8_t`` array does not exploit. Here each filter (argument 1 of a CONV_2D,
DEPTHWISE_CONV_2D, TRANSPOSE_CONV or FULLY_CONNECTED step, in the exact byte layout its kernel reads)
is stored in the smallest of four formats, counting every byte (tables, table ids, bitmap, values and
the decoder's parameter struct):

- ``dense``: the int8 bytes as they are;
- ``table4``: two 4-bit indices per byte into tables of at most 16 int8 values;
- ``sparse``: a bitmap of the nonzero weights (one bit each), then the nonzero int8 values;
- ``sparse+table4``: the bitmap, then the nonzero weights as 4-bit indices.

With per-channel quantization a layer clustered to 16 float values holds up to 16 int8 values per
output channel but many more per layer (each channel has its own scale), so tables are per *group* of
weights: weight ``i`` belongs to group ``(i / run) % period + period * (i / block)``, which describes
channel-major (OHWI, FULLY_CONNECTED), channel-innermost (depthwise) and interleaved layouts alike. Groups
whose value sets fit one table share it (channels with the same scale share identical sets), and a table
id per group picks it, in as few bits as the table count needs (none for one table, 1, 2, 4 or 8). The
encoder tries the group layouts that fit the step's output channels and keeps the smallest encoding;
every encoding is decoded again here and compared byte for byte with the original before it is used.

At run time ``tfkd_decode_weights`` (``kernels/tfkd_weights.c``) expands a compressed filter into a
scratch region of the static arena just before its kernel runs, and the kernel reads it as usual, so the
results are those of the dense filter bit for bit. The trade-off: flash shrinks by the saved bytes, the
arena may grow by up to the largest decoded filter (the memory planner reuses the scratch like any
activation, so often less), and each inference spends a few instructions per compressed weight decoding it
(small next to a convolution's reuse of each weight, noticeable for FULLY_CONNECTED, which reads each
weight once). ``weights="dense"`` keeps every filter dense.
"""

import dataclasses

import numpy as np

WEIGHT_MODES = ("auto", "dense")
# Kernels whose argument 1 is an int8 filter that may be stored compressed.
FILTER_FUNCTIONS = ("tfkd_conv2d", "tfkd_depthwise_conv2d", "tfkd_transpose_conv", "tfkd_fully_connected")
FILTER_ARG = 1
FORMATS = ("dense", "table4", "sparse", "sparse+table4")
TABLE_ENTRIES = 16
# The fields of tfkd_weights_params (kernels/tfkd_kernels.h), in order: three int32_t, two uint16_t, two
# uint8_t (20 bytes with padding). The decoder derives the section offsets from them.
PARAM_FIELDS = ("size", "run", "block", "period", "tables", "table_size", "format")
PARAMS_BYTES = 20
SPARSE_FLAG, TABLE4_FLAG, IDS4_FLAG, IDS8_FLAG, IDS1_FLAG, IDS2_FLAG = 1, 2, 4, 8, 16, 32
# Table id widths (bits) and their format flags; a width never splits an id across bytes.
ID_FLAGS = {0: 0, 1: IDS1_FLAG, 2: IDS2_FLAG, 4: IDS4_FLAG, 8: IDS8_FLAG}
# A compressed format must save at least this fraction of a filter's dense bytes: decoding costs arena
# scratch and instructions on every inference, which a few bytes of flash do not pay for (the zero padding
# of an arranged filter, for instance, would otherwise make a dense layer "sparse" for 4 bytes).
MIN_SAVING = 0.125
# Output-channel groupings tried for interleaved layouts (channels per interleave, weights per run).
_PERIODS = (2, 4, 8)
_RUNS = (1, 2, 4, 8, 16)


@dataclasses.dataclass
class Encoded:
    """One filter's storage: ``format`` (one of FORMATS), ``data`` (uint8 bytes in flash; the int8 values
    themselves for ``dense``), ``params`` (tfkd_weights_params fields; empty for dense) and byte counts."""

    format: str
    size: int
    data: np.ndarray
    params: dict
    offsets: dict = dataclasses.field(default_factory=dict)

    @property
    def dense_bytes(self):
        return self.size

    @property
    def stored_bytes(self):
        """Bytes in flash: the data array, plus the decoder's parameter struct when compressed."""
        return int(self.data.size) + (PARAMS_BYTES if self.params else 0)

    @property
    def compressed(self):
        return self.format != "dense"


def _groups(n, run, period, block):
    i = np.arange(n)
    return (i // run) % period + period * (i // block)


def _layouts(n, channels):
    """Candidate ``(run, period, block)`` group layouts for ``n`` weights of ``channels`` output channels."""
    layouts = [(n, 1, n)]  # one group: one table for the whole layer
    counts = {c for c in (channels, channels + channels % 2, -(-channels // 4) * 4) if c and c > 1}
    for c in sorted(counts):
        if n % c:
            continue
        per_channel = n // c
        layouts.append((per_channel, 1, per_channel))  # channel-major
        layouts.append((1, c, n))  # channel innermost (depthwise)
        for period in _PERIODS:
            if c % period or period >= c:
                continue
            block = per_channel * period
            for run in _RUNS:
                if run < per_channel and per_channel % run == 0:
                    layouts.append((run, period, block))
    return list(dict.fromkeys(layouts))


def _pack(fields, bits=4):
    """``bits``-bit fields (1, 2, 4 or 8), low bits of each byte first, the last byte zero-padded."""
    per_byte = 8 // bits
    fields = np.asarray(fields, dtype=np.uint8)
    padded = np.zeros(-(-fields.size // per_byte) * per_byte, dtype=np.uint8)
    padded[:fields.size] = fields
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(padded.reshape(-1, per_byte) << shifts, axis=1).astype(np.uint8)


def _unpack(packed, count, bits=4):
    packed = np.asarray(packed, dtype=np.uint8)
    shifts = np.arange(8 // bits, dtype=np.uint8) * bits
    return ((packed[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)[:count]


def _tables(values, groups, group_count):
    """Tables of at most 16 values that cover each group's value set, as few as it finds.

    Groups with the same set share a table from the start; then, in rounds, each table that fits together
    with another into one table merges with the one it shares the most values with, where that one's
    choice is the same (at least the best pair of the round merges), until no two fit. (A first-fit by set
    size, tried before, packed sets of different channel scales together early and needed up to half again
    as many tables on clustered depthwise layers, whose 3x3 channels hold different subsets of their
    scale's values; merging in rounds keeps a 1024-channel layer to a few dozen matrix products.)

    Returns ``(tables, table_of_group)`` or None when a group holds more than 16 distinct values."""
    keys = np.unique(groups.astype(np.int64) * 256 + (values.astype(np.int64) + 128))
    member = np.zeros((group_count, 256), dtype=bool)
    member[keys // 256, keys % 256] = True
    if member.sum(axis=1).max(initial=0) > TABLE_ENTRIES:
        return None
    sets, table_of_group = np.unique(member, axis=0, return_inverse=True)
    table_of_group = table_of_group.reshape(-1)
    while len(sets) > 1:
        counts = sets.astype(np.float32)  # a BLAS product; the counts (at most 256) are exact
        shared = counts @ counts.T
        sizes = np.diag(shared)
        score = np.where(sizes[:, None] + sizes[None, :] - shared <= TABLE_ENTRIES, shared, -1.0)
        np.fill_diagonal(score, -1.0)
        if score.max() < 0:
            break
        partner = np.argmax(score, axis=1)
        index = np.arange(len(sets))
        pairs = (score[index, partner] >= 0) & (partner[partner] == index) & (index < partner)
        if not pairs.any():
            first = np.argmax(score) // len(sets)
            pairs[first], partner[first] = True, np.argmax(score[first])
        keep = np.ones(len(sets), dtype=bool)
        keep[partner[pairs]] = False
        into = index.copy()
        into[partner[pairs]] = index[pairs]
        sets = sets.copy()
        sets[index[pairs]] |= sets[partner[pairs]]
        renumber = np.cumsum(keep) - 1
        table_of_group = renumber[into[table_of_group]]
        sets = sets[keep]
    tables = [(np.flatnonzero(row) - 128).tolist() for row in sets]
    return tables, table_of_group


def _encode(flat, fmt, layout):
    """``flat`` (int8) in format ``fmt`` with group ``layout``; None when the format cannot hold it."""
    n = flat.size
    sparse = fmt.startswith("sparse")
    kept = np.flatnonzero(flat) if sparse else np.arange(n)
    parts, params = [], dict.fromkeys(PARAM_FIELDS, 0)
    params.update(size=n, run=n, block=n, period=1, format=SPARSE_FLAG if sparse else 0)
    offsets = {"ids": 0, "id_bits": 0}
    offset = 0
    if fmt.endswith("table4"):
        run, period, block = layout
        groups = _groups(n, run, period, block)
        group_count = int(groups.max(initial=0)) + 1
        found = _tables(flat[kept], groups[kept], group_count)
        if found is None:
            return None
        tables, table_of_group = found
        if len(tables) > 256:
            return None
        table_size = max((len(t) for t in tables), default=1)
        table_bytes = np.zeros((max(len(tables), 1), table_size), dtype=np.int8)
        lookup = np.zeros((max(len(tables), 1), 256), dtype=np.uint8)
        for t, table in enumerate(tables):
            table_bytes[t, :len(table)] = table
            table_bytes[t, len(table):] = table[-1]
            lookup[t, np.asarray(table) + 128] = np.arange(len(table))
        id_bits = next(bits for bits in ID_FLAGS if len(tables) <= 1 << bits)
        parts.append(table_bytes.reshape(-1).view(np.uint8))
        offset += table_bytes.size
        if period > 0xFFFF or len(tables) > 0xFFFF:
            return None
        params.update(run=run, period=period, block=block, tables=len(tables), table_size=table_size)
        params["format"] |= TABLE4_FLAG | ID_FLAGS[id_bits]
        offsets.update(ids=offset, id_bits=id_bits)
        if id_bits:
            parts.append(_pack(table_of_group, id_bits))
            offset += parts[-1].size
        indices = lookup[table_of_group[groups[kept]], flat[kept].astype(np.int64) + 128]
        encoded_values = _pack(indices)
    else:
        encoded_values = flat[kept].view(np.uint8)
    offsets["bitmap"] = offset
    if sparse:
        parts.append(np.packbits(flat != 0, bitorder="little"))
        offset += parts[-1].size
    offsets["values"] = offset
    parts.append(encoded_values)
    data = np.concatenate([np.asarray(p, dtype=np.uint8).reshape(-1) for p in parts])
    return Encoded(fmt, n, data, params, offsets)


def decode(encoded):
    """The int8 weights ``encoded`` stands for (what ``tfkd_decode_weights`` writes), as a flat array."""
    if not encoded.compressed:
        return encoded.data.view(np.int8).copy()
    p, o, data = encoded.params, encoded.offsets, encoded.data
    n = p["size"]
    if p["format"] & SPARSE_FLAG:
        bitmap = np.unpackbits(data[o["bitmap"]:o["values"]], bitorder="little")[:n].astype(bool)
    else:
        bitmap = np.ones(n, dtype=bool)
    count = int(bitmap.sum())
    out = np.zeros(n, dtype=np.int8)
    if not p["format"] & TABLE4_FLAG:
        out[bitmap] = data[o["values"]:o["values"] + count].view(np.int8)
        return out
    groups = _groups(n, p["run"], p["period"], p["block"])
    group_count = int(groups.max(initial=0)) + 1
    if o["id_bits"] == 0:
        table_of_group = np.zeros(group_count, dtype=np.int64)
    else:
        table_of_group = _unpack(data[o["ids"]:o["bitmap"]], group_count, o["id_bits"]).astype(np.int64)
    tables = data[:o["ids"]].view(np.int8).reshape(-1, p["table_size"])
    indices = _unpack(data[o["values"]:], count).astype(np.int64)
    out[bitmap] = tables[table_of_group[groups[bitmap]], indices]
    return out


def encode(values, channels=1, formats=FORMATS):
    """The smallest :class:`Encoded` of the int8 ``values`` (flattened in C order) among ``formats``.

    ``channels``: the output channels the values belong to (picks the group layouts tried for tables).
    A compressed format is chosen only when its bytes, parameter struct included, are at most
    ``1 - MIN_SAVING`` of dense.
    """
    flat = np.ascontiguousarray(values, dtype=np.int8).reshape(-1)
    best = Encoded("dense", flat.size, flat.view(np.uint8).copy(), {})
    if flat.size == 0:
        return best
    layouts = _layouts(flat.size, channels)
    for fmt in formats:
        if fmt == "dense":
            continue
        if fmt not in FORMATS:
            raise ValueError(f"weight format {fmt!r} is unknown; expected one of {FORMATS}")
        kept = np.count_nonzero(flat) if fmt.startswith("sparse") else flat.size
        floor = (kept + 1) // 2 if fmt.endswith("table4") else kept
        floor += (flat.size + 7) // 8 if fmt.startswith("sparse") else 0
        if floor + PARAMS_BYTES >= best.stored_bytes:
            continue
        for layout in (layouts if fmt.endswith("table4") else layouts[:1]):
            candidate = _encode(flat, fmt, layout)
            if candidate is not None and candidate.stored_bytes < best.stored_bytes:
                best = candidate
    if best.compressed and best.stored_bytes > (1 - MIN_SAVING) * flat.size:
        return Encoded("dense", flat.size, flat.view(np.uint8).copy(), {})
    if best.compressed and not np.array_equal(decode(best), flat):
        raise AssertionError(f"the {best.format} encoding does not decode to the weights it encodes")
    return best


def filter_values(graph, step):
    """The int8 filter bytes of ``step`` as its kernel reads them (flat, C order), or None when the step has
    no compressible filter."""
    if step.function not in FILTER_FUNCTIONS or len(step.args) <= FILTER_ARG:
        return None
    arg = step.args[FILTER_ARG]
    if arg[0] == "tensor":
        tensor = graph.tensors[arg[1]]
        if tensor.data is None or tensor.dtype != "int8":
            return None
        return np.asarray(tensor.data, dtype=np.int8).reshape(-1)
    if arg[0] == "array" and arg[1] == "int8_t":
        return np.asarray(arg[2]).astype(np.int8).reshape(-1)
    return None


def choose(graph, steps, weights="auto"):
    """``{step index: Encoded}`` for every step with a compressible filter (dense ones included, so the
    summary can list every layer). ``weights="dense"`` keeps them all dense."""
    if weights not in WEIGHT_MODES:
        raise ValueError(f"weights={weights!r} is invalid; expected one of {WEIGHT_MODES}")
    storage = {}
    for i, step in enumerate(steps):
        values = filter_values(graph, step)
        if values is None:
            continue
        channels = int(step.params.get("output_depth", 1))
        storage[i] = encode(values, channels, formats=FORMATS if weights == "auto" else ("dense",))
    return storage


def compressed(storage):
    """``{step index: Encoded}`` of the filters stored compressed."""
    return {i: e for i, e in storage.items() if e.compressed}


def scratch_sizes(storage):
    """``{step index: bytes}`` of arena scratch each compressed filter decodes into."""
    return {i: e.size for i, e in compressed(storage).items()}


def report(graph, steps, storage):
    """The summary's ``weights`` section: dense vs stored filter bytes and each layer's format."""
    layers = [{
        "operator": steps[i].operator.index, "kind": steps[i].kind, "format": e.format,
        "dense_bytes": e.dense_bytes, "stored_bytes": e.stored_bytes if e.compressed else e.dense_bytes,
    } for i, e in sorted(storage.items())]
    dense = sum(layer["dense_bytes"] for layer in layers)
    stored = sum(layer["stored_bytes"] for layer in layers)
    return {
        "dense_bytes": dense,
        "stored_bytes": stored,
        "ratio": round(stored / dense, 3) if dense else 1.0,
        "formats": {fmt: sum(1 for layer in layers if layer["format"] == fmt) for fmt in FORMATS},
        "scratch_bytes": max(scratch_sizes(storage).values(), default=0),
        "layers": layers,
    }
