"""In-place execution: how far a step's output may overlap an input that dies at that step.

The memory planner may place a step's output over the last use of one of its inputs when the kernel
can never overwrite an input byte it has still to read. Element-wise kernels read element ``i``
before they write element ``i`` and never read behind it, so their output may sit exactly on
their input. Windowed kernels (CONV_2D, DEPTHWISE_CONV_2D, pooling) write output pixels in row-major
order; when pixel ``q`` is written, the kernel may still read the inputs of pixel ``q`` and of every
later pixel, and of up to ``PIXELS_IN_FLIGHT - 1`` earlier ones (the DSP paths work on blocks of
pixels, reading while they write), or of its whole output row for a kernel that finishes rows in
order but not pixels (``ROW_AT_A_TIME``). Placing the output ``lead`` bytes below the input, where ``lead``
is the largest ``end of output pixel q - first input byte still to be read``, keeps every write
below every byte still to be read: an expanding pointwise layer then needs its output plus a few
bytes, not input plus output.
"""

import numpy as np

WINDOWED = ("tfkd_conv2d", "tfkd_depthwise_conv2d", "tfkd_max_pool", "tfkd_average_pool")
ELEMENTWISE = ("tfkd_lut", "tfkd_add", "tfkd_mul")
# The most output pixels any kernel path has in flight at once (reads of a block interleave with its writes):
# CONV_2D's Cortex-M4 paths work on pairs of pixels, the plain C paths and pooling on one.
PIXELS_IN_FLIGHT = 2
# Kernels that finish one output row before the next but take its pixels in any order (DEPTHWISE_CONV_2D's
# Cortex-M4 path: channel groups outside, pixels inside): a whole row is in flight.
ROW_AT_A_TIME = ("tfkd_depthwise_conv2d",)


def _windowed_lead(params, in_flight):
    depth = params.get("input_depth", params.get("depth"))
    out_depth = params.get("output_depth", params.get("depth"))
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


def _dense_strides(dims):
    return [int(np.prod(dims[k + 1:])) for k in range(len(dims))]


def output_lead(step, argument):
    """Bytes by which the output of ``step`` must start below its input ``step.args[argument]`` to overlap
    it safely (0: exactly in place), or None when the output must not overlap that input at all."""
    if step.function in WINDOWED and argument == 0:
        in_flight = PIXELS_IN_FLIGHT
        if step.function in ROW_AT_A_TIME:
            in_flight = max(in_flight, step.params["output_width"])
        return _windowed_lead(step.params, in_flight)
    if step.function == "tfkd_lut" and argument == 0:
        return 0
    if step.function in ("tfkd_add", "tfkd_mul") and argument in (0, 1):
        dims = list(step.params["output_dims"])
        strides = step.params[f"input{argument + 1}_strides"]
        # Only an input of the output's own shape: a broadcast input is read again after its bytes are written.
        if all(d == 1 or s == e for d, s, e in zip(dims, strides, _dense_strides(dims))):
            return 0
    return None
