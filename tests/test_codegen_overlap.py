"""In-place execution (tfkd/codegen/overlap.py): an output placed over a dying input never overwrites a
byte that the kernel has still to read."""

import itertools

import pytest

from tfkd.codegen import overlap
from tfkd.codegen.checks import Step


def _conv_step(function, height, width, depth, out_depth, filter_size, stride, pad, dilation=1):
    out_h = (height + 2 * pad - dilation * (filter_size - 1) - 1) // stride + 1
    out_w = (width + 2 * pad - dilation * (filter_size - 1) - 1) // stride + 1
    params = dict(input_height=height, input_width=width, input_depth=depth, output_height=out_h,
                  output_width=out_w, output_depth=out_depth, filter_height=filter_size, filter_width=filter_size,
                  stride_height=stride, stride_width=stride, pad_height=pad, pad_width=pad,
                  dilation_height=dilation, dilation_width=dilation)
    return Step(None, function, "tfkd_conv_params", params, [("tensor", 0)], 1)


def _bytes_read(p, pixel):
    """The input bytes output pixel ``pixel`` reads: every in-image tap of its window, every channel."""
    out_y, out_x = divmod(pixel, p["output_width"])
    taps = set()
    for fy, fx in itertools.product(range(p["filter_height"]), range(p["filter_width"])):
        y = out_y * p["stride_height"] - p["pad_height"] + fy * p["dilation_height"]
        x = out_x * p["stride_width"] - p["pad_width"] + fx * p["dilation_width"]
        if 0 <= y < p["input_height"] and 0 <= x < p["input_width"]:
            start = (y * p["input_width"] + x) * p["input_depth"]
            taps.update(range(start, start + p["input_depth"]))
    return taps


def _first_clobbered(step, lead):
    """Simulates the kernel with its output ``lead`` bytes below its input: for each output pixel in order,
    the input bytes that pixel or any pixel still in flight or to come reads, against the bytes it writes.
    Returns the first pixel whose write hits such a byte, or None."""
    p = step.params
    pixels = p["output_height"] * p["output_width"]
    reads = [_bytes_read(p, q) for q in range(pixels)]
    for q in range(pixels):
        earliest = max(q - (overlap.PIXELS_IN_FLIGHT - 1), 0)
        pending = set().union(*reads[earliest:])
        written = range(q * p["output_depth"] - lead, (q + 1) * p["output_depth"] - lead)
        if pending.intersection(written):
            return q
    return None


def _depthwise_steps(p, group_rows=None):
    """DEPTHWISE_CONV_2D's steps in the order its kernel takes them, each (input bytes read, output bytes
    written, the reads all done before the writes). ``group_rows``: the Cortex-M4 path's order with the output
    rows [start, stop) taken channel group by channel group (groups of four outside, those rows' pixels in
    row-major order inside) and the other rows pixel by pixel (every group of four of a pixel, then the next
    pixel), then the channels past the last group pixel by pixel; None: the plain path's order (pixels
    outside, every channel of a pixel inside)."""
    depth, multiplier, width = p["input_depth"], p["depth_multiplier"], p["output_width"]
    pixels = p["output_height"] * width
    taps = [sorted({b // depth for b in _bytes_read(p, q)}) for q in range(pixels)]

    def step(q, channels):
        return ({t * depth + c for t in taps[q] for c in channels},
                {q * p["output_depth"] + c * multiplier + m for c in channels for m in range(multiplier)})

    if group_rows is None:
        return [step(q, [c]) for q in range(pixels) for c in range(depth)]
    groups = [range(c, c + 4) for c in range(0, depth - depth % 4, 4)]
    start, stop = group_rows[0] * width, group_rows[1] * width
    return ([step(q, g) for q in range(start) for g in groups] +
            [step(q, g) for g in groups for q in range(start, stop)] +
            [step(q, g) for q in range(stop, pixels) for g in groups] +
            [step(q, [c]) for q in range(pixels) for c in range(depth - depth % 4, depth)])


def _first_clobbering_step(steps, lead):
    """The first of ``steps`` (from :func:`_depthwise_steps`) that, with the output ``lead`` bytes below the
    input, writes over an input byte that it or a later step still reads, or None."""
    last_read = {}
    for i, (reads, _) in enumerate(steps):
        last_read.update(dict.fromkeys(reads, i))
    for i, (_, writes) in enumerate(steps):
        if any(last_read.get(b - lead, -1) > i for b in writes):
            return i
    return None


GEOMETRIES = [
    ("tfkd_conv2d", 6, 5, 8, 16, 1, 1, 0),    # expanding pointwise
    ("tfkd_conv2d", 6, 5, 16, 8, 1, 1, 0),    # shrinking pointwise
    ("tfkd_conv2d", 7, 6, 4, 4, 3, 1, 1),     # 3x3 SAME
    ("tfkd_conv2d", 9, 9, 3, 8, 3, 2, 1),     # stride 2, deeper output
    ("tfkd_conv2d", 8, 8, 2, 4, 3, 1, 2, 2),  # dilated
    ("tfkd_max_pool", 9, 8, 5, 5, 3, 2, 0),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[f"{g[0]}-{g[4]}x{g[5]}s{g[6]}" for g in GEOMETRIES])
def test_windowed_lead_never_overwrites_a_byte_still_to_be_read(geometry):
    step = _conv_step(*geometry)
    lead = overlap.output_lead(step, 0)
    assert lead is not None and lead >= 0
    assert _first_clobbered(step, lead) is None


DEPTHWISE = [  # height, width, depth, depth multiplier, filter size, stride, padding, dilation
    (7, 5, 6, 1, 3, 1, 1, 1),
    (9, 8, 5, 1, 3, 2, 0, 1),
    (6, 12, 8, 1, 3, 1, 1, 1),
    (6, 5, 22, 1, 3, 1, 1, 1),   # five groups of four and two channels more
    (8, 7, 4, 1, 3, 2, 1, 1),
    (5, 6, 8, 1, 5, 1, 2, 1),
    (8, 8, 4, 1, 3, 1, 2, 2),
    (6, 5, 3, 2, 3, 1, 1, 1),    # depth multiplier 2: the plain path only
    (7, 6, 2, 3, 3, 2, 1, 1),
]


@pytest.mark.parametrize("geometry", DEPTHWISE, ids=["x".join(map(str, g)) for g in DEPTHWISE])
def test_depthwise_lead_never_overwrites_a_byte_still_to_be_read(geometry):
    height, width, depth, multiplier, filter_size, stride, pad, dilation = geometry
    step = _conv_step("tfkd_depthwise_conv2d", height, width, depth, depth * multiplier, filter_size, stride, pad,
                      dilation)
    step.params["depth_multiplier"] = multiplier
    lead = overlap.output_lead(step, 0)
    assert lead is not None and lead >= 0
    plain = _depthwise_steps(step.params)
    # The plain path (and the Cortex-M4 path when the output is not whole pixels below its input): pixel by
    # pixel, safe at the lead and at any offset below it that the planner may choose (whole words).
    for below in range(-(-lead // 4) * 4, lead + 3 * depth * multiplier + 1, 4):
        assert _first_clobbering_step(plain, below) is None, below
    if multiplier == 1:
        # Whole pixels (and whole words) below: the Cortex-M4 path cannot clobber, whichever rows it takes
        # channel group by channel group.
        assert lead % depth == 0 and lead % 4 == 0
        rows = step.params["output_height"]
        for group_rows in itertools.combinations_with_replacement(range(rows + 1), 2):
            steps = _depthwise_steps(step.params, group_rows)
            for pixels in range(lead // depth, lead // depth + 3):
                assert _first_clobbering_step(steps, pixels * depth) is None, (group_rows, pixels)


def test_depthwise_channel_groups_need_whole_pixels():
    # Why the Cortex-M4 path checks the placement: 4 bytes more than the lead puts the first group's writes
    # over the last group's inputs of an earlier pixel, which that group has still to read.
    step = _conv_step("tfkd_depthwise_conv2d", 6, 12, 8, 8, 3, 1, 1)
    step.params["depth_multiplier"] = 1
    lead = overlap.output_lead(step, 0)
    assert _first_clobbering_step(_depthwise_steps(step.params, (1, 5)), lead + 4) is not None


def test_windowed_lead_is_what_an_expanding_pointwise_layer_needs():
    # 8 -> 16 channels over 30 pixels: the output must start below the input by the last pixel's end minus the
    # first byte still read then (pixel 28's, 2 pixels in flight): 30 * 16 - 28 * 8 = 256 bytes; an output
    # placed any higher clobbers an unread input byte.
    step = _conv_step("tfkd_conv2d", 6, 5, 8, 16, 1, 1, 0)
    assert overlap.output_lead(step, 0) == 256
    assert _first_clobbered(step, 255) is not None


def test_element_wise_in_place_only_without_broadcasting():
    lut = Step(None, "tfkd_lut", "tfkd_lut_params", {"size": 12}, [("tensor", 0), ("array",)], 1)
    assert overlap.output_lead(lut, 0) == 0
    add = Step(None, "tfkd_add", "tfkd_add_params",
               {"output_dims": [1, 2, 3, 4], "input1_strides": [24, 12, 4, 1], "input2_strides": [0, 0, 0, 1]},
               [("tensor", 0), ("tensor", 2)], 1)
    assert overlap.output_lead(add, 0) == 0
    assert overlap.output_lead(add, 1) is None  # broadcast along three axes: re-read after being written
    fully_connected = Step(None, "tfkd_fully_connected", "tfkd_fully_connected_params", {}, [("tensor", 0)], 1)
    assert overlap.output_lead(fully_connected, 0) is None


def test_in_place_chain_is_bit_exact_on_host_and_cortex_m4():
    import numpy as np
    import tf_keras
    from tf_keras import layers

    import tfkd
    from codegen_models import SEED, random_int8_inputs
    from tfkd.codegen import HostRunner, QemuRunner, cortex_m4, lowering, planner
    from tfkd.model import TflmRunner

    tf_keras.utils.set_random_seed(SEED)
    inputs = tf_keras.Input((8, 8, 4))
    x = layers.Conv2D(8, 1, activation="relu")(inputs)         # 512 bytes
    x = layers.DepthwiseConv2D(3, padding="same")(x)            # 512, over its dying input
    x = layers.Conv2D(16, 1, activation="relu6")(x)             # 1,024, expanding, over its dying input
    model = tf_keras.Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(x)))
    tflite_bytes = tfkd.export.to_tflite(model, np.random.default_rng(SEED).uniform(size=(32, 8, 8, 4)))
    graph = lowering.read_int8_model(tflite_bytes)
    steps = lowering.lower(graph)
    plan = planner.plan_memory(graph, steps)
    # Without overlap the depthwise input and the pointwise output alone need 512 + 1,024 bytes.
    assert 1024 <= plan.arena_size < 1536
    samples = random_int8_inputs(tflite_bytes, 16)
    expected = TflmRunner(tflite_bytes).run(samples)
    assert np.array_equal(HostRunner(tflite_bytes).run(samples), expected)
    if not cortex_m4.missing_tools():
        assert np.array_equal(QemuRunner(tflite_bytes).run(samples), expected)
