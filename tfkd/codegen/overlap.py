"""In-place execution: how far a step's output may overlap an input that dies at that step.

The memory planner may place a step's output over the last use of one of its inputs when the kernel
can never overwrite an input byte it has still to read. Element-wise kernels read element ``i``
before they write element ``i`` and never read behind it, so their output may sit exactly on
their input. Windowed kernels (CONV_2D, DEPTHWISE_CONV_2D, pooling) write output pixels in row-major
order; when pixel ``q`` is written, the kernel may still read the inputs of pixel ``q`` and of every
later pixel, and of up to ``PIXELS_IN_FLIGHT - 1`` earlier ones (the DSP paths work on blocks of
pixels, reading while they write). Placing the output ``lead`` bytes below the input, where ``lead``
is the largest ``end of output pixel q - first input byte still to be read``, keeps every write
below every byte still to be read: an expanding pointwise layer then needs its output plus a few
bytes, not input plus output.

DEPTHWISE_CONV_2D with depth multiplier 1 works channel by channel (its Cortex-M4 path: channel groups
outside, each group's pixels in row-major order inside). Its lead is a whole number of pixels, so that an
output byte of channel ``c`` only ever lands on an input byte of channel ``c``: the bound is then that of
a one-channel layer, whatever the other channels still have to read. The kernel checks that the output
lies whole pixels below its input (or apart from it) and otherwise works pixel by pixel, which any lead at
least this large keeps safe too.
"""

import math

import numpy as np

WINDOWED = ("tfkd_conv2d", "tfkd_depthwise_conv2d", "tfkd_max_pool", "tfkd_average_pool")
ELEMENTWISE = ("tfkd_lut", "tfkd_add", "tfkd_mul")
# The most output pixels any kernel path has in flight at once (reads of a block interleave with its writes):
# CONV_2D's Cortex-M4 paths work on pairs of pixels, the plain C paths and pooling on one.
PIXELS_IN_FLIGHT = 2
# DEPTHWISE_CONV_2D (depth multiplier 1) finishes each pixel of a channel group (reads all its taps, then
# writes it) before the next: tfkd_dw_pair3x3 reads both of its pixels before writing either.
DEPTHWISE_PIXELS_IN_FLIGHT = 1


def _windowed_lead(params, in_flight, depth=None, out_depth=None):
    depth = depth or params.get("input_depth", params.get("depth"))
    out_depth = out_depth or params.get("output_depth", params.get("depth"))
    out_y = np.arange(params["output_height"], dtype=np.int64)
    out_x = np.arange(params["output_width"], dtype=np.int64)
    # The lowest input pixel a window can touch (its top-left corner, clipped to the image): no later
    # than the first tap the kernel really reads, so the bound errs on the safe side.
    first_row = np.clip(out_y * params["stride_height"] - params["pad_height"], 0, params["input_height"] - 1)
    first_col = np.clip(out_x * params["stride_width"] - params["pad_width"], 0, params["input_width"] - 1)
    lowest = ((first_row[:, None] * params["input_width"] + first_col[None, :]) * depth).reshape(-1)
    still_read = np.minimum.accumulate(lowest[::-1])[::-1]  # lowest byte read by pixel q or any later one
    pixels = len(lowest)
    earliest_in_flight = np.maximum(np.arange(pixels) - (in_flight - 1), 0)
    output_end = (np.arange(pixels) + 1) * out_depth
    return max(int((output_end - still_read[earliest_in_flight]).max()), 0)


def _depthwise_lead(params):
    """The lead of one channel alone, in whole pixels, rounded up to whole pixels that are also whole words:
    the planner keeps leads and offsets word aligned, and a lead it rounded would no longer be whole pixels."""
    depth = params["input_depth"]
    pixels = _windowed_lead(params, DEPTHWISE_PIXELS_IN_FLIGHT, depth=1, out_depth=1)
    words = 4 // math.gcd(depth, 4)
    return -(-pixels // words) * words * depth


def full_shape_input(step, argument):
    """Whether input ``argument`` (0 or 1) of an ADD/SUB/MUL step has the output's own shape (no broadcasting)."""
    dims = list(step.params["output_dims"])
    dense = [int(np.prod(dims[k + 1:])) for k in range(len(dims))]
    return all(d == 1 or s == e for d, s, e in zip(dims, step.params[f"input{argument + 1}_strides"], dense))


def output_lead(step, argument):
    """Bytes by which the output of ``step`` must start below its input ``step.args[argument]`` to overlap
    it safely (0: exactly in place), or None when the output must not overlap that input at all."""
    if step.function == "tfkd_depthwise_conv2d" and argument == 0 and step.params["depth_multiplier"] == 1:
        return _depthwise_lead(step.params)
    if step.function in WINDOWED and argument == 0:
        return _windowed_lead(step.params, PIXELS_IN_FLIGHT)
    if step.function == "tfkd_lut" and argument == 0:
        return 0
    # Only an input of the output's own shape: a broadcast input is read again after its bytes are written.
    if step.function in ("tfkd_add", "tfkd_mul") and argument in (0, 1) and full_shape_input(step, argument):
        return 0
    return None
