"""256-entry tables for int8 element-wise operators, computed with TFLite Micro's integer steps.

For an int8 element-wise operator the output byte depends only on the input byte, so each table
entry runs, in Python integers, exactly the arithmetic TFLite Micro's reference kernel runs on
that byte (its Prepare-time parameters included); the generated C only looks entries up. The
softmax table holds gemmlowp's exp() of every possible ``input - row max`` difference.
"""

import math

import numpy as np

from tfkd.codegen import fixedpoint as fp
from tfkd.codegen.quantization import quantize_multiplier
from tfkd.model import ModelError, round_half_away

INPUTS = range(-128, 128)


def _clamp8(x):
    return max(-128, min(127, x))


def _frexp_multiplier(real):
    """``std::frexp`` + ``TfLiteRound(q * 2^31)``, as the LOGISTIC and TANH Prepare steps derive it."""
    fraction, shift = math.frexp(real)
    return int(round_half_away(fraction * (1 << 31))), shift


def _input_radius(integer_bits, left_shift, total_bits=31):
    return int(math.floor(((1 << integer_bits) - 1) * (1 << (total_bits - integer_bits)) / (1 << left_shift)))


def _q4_table(input_scale, input_zero_point, inside):
    """LOGISTIC/TANH: each input byte as a Q4.27 value mapped by ``inside`` to the output byte; inputs
    beyond the radius saturate to -128 or 127."""
    multiplier, left_shift = _frexp_multiplier(float(np.float32(input_scale)) * (1 << 27))
    radius = _input_radius(4, left_shift)
    table = []
    for value in INPUTS:
        x = value - input_zero_point
        if x <= -radius:
            table.append(-128)
        elif x >= radius:
            table.append(127)
        else:
            table.append(_clamp8(inside(fp.multiply_by_quantized_multiplier(x, multiplier, left_shift))))
    return table


def logistic(input_scale, input_zero_point):
    return _q4_table(input_scale, input_zero_point,
                     lambda q4: fp.rounding_divide_by_pot(fp.logistic(q4, 4), 23) - 128)


def tanh(input_scale, input_zero_point):
    return _q4_table(input_scale, input_zero_point, lambda q4: fp.rounding_divide_by_pot(fp.tanh(q4, 4), 24))


def relu(input_scale, input_zero_point, output_scale, output_zero_point):
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale) / np.float32(output_scale)))
    low = max(-128, output_zero_point)
    return [max(low, min(127, output_zero_point + fp.multiply_by_quantized_multiplier(v - input_zero_point,
                                                                                    multiplier, shift)))
            for v in INPUTS]


def relu6(input_scale, input_zero_point):
    """TFLite Micro's int8 RELU6 clamps to [zero, six] on the input's scale (no rescaling)."""
    six = _clamp8(int(round_half_away(float(np.float32(6.0) / np.float32(input_scale)))) + input_zero_point)
    return [max(input_zero_point, min(six, v)) for v in INPUTS]


def leaky_relu(alpha, input_scale, input_zero_point, output_scale, output_zero_point):
    alpha = np.float32(alpha)
    if alpha < 0:
        raise ModelError(f"LEAKY_RELU alpha={float(alpha)} is negative; expected alpha >= 0")
    scale_in, scale_out = np.float32(input_scale), np.float32(output_scale)
    m_alpha, s_alpha = quantize_multiplier(float(scale_in * alpha / scale_out))
    m_identity, s_identity = quantize_multiplier(float(scale_in / scale_out))
    table = []
    for v in INPUTS:
        x = v - input_zero_point
        if x >= 0:
            y = fp.multiply_by_quantized_multiplier(x, m_identity, s_identity)
        else:
            y = fp.multiply_by_quantized_multiplier(x, m_alpha, s_alpha)
        table.append(_clamp8(output_zero_point + y))
    return table


def _int16_multiplier(real):
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= fp.INT32_MAX - (1 << 15):
        return fp.INT16_MAX, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def _saturating_left_shift16(value, amount):
    return max(fp.INT16_MIN, min(fp.INT16_MAX, value * (1 << amount)))


def hard_swish(input_scale, input_zero_point, output_scale, output_zero_point):
    hires_scale = np.float32(1.0 / 128.0) * np.float32(input_scale)
    output_multiplier, output_exponent = _int16_multiplier(float(hires_scale / np.float32(output_scale)))
    reluish_multiplier, reluish_exponent = _int16_multiplier(float(hires_scale / np.float32(3.0 / 32768.0)))
    if output_exponent > 0:
        raise ModelError(f"HARD_SWISH output scale {output_scale} is below input scale / 128; TFLite Micro "
                         "cannot run it")
    table = []
    for v in INPUTS:
        hires = fp.wrap16((v - input_zero_point) * (1 << 7))
        preshift = fp.doubling_high_mul(hires, output_multiplier, bits=16)
        reluish = hires
        if reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, reluish_exponent - 1)
        reluish = fp.doubling_high_mul(reluish, reluish_multiplier, bits=16)
        if reluish_exponent > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if reluish_exponent < 0:
            reluish = fp.rounding_divide_by_pot(reluish, -reluish_exponent)
        reluish = fp.wrap16((reluish + (1 << 15)) >> 1)
        out = fp.rounding_divide_by_pot(fp.truncating_doubling_high_mul16(reluish, preshift), -output_exponent)
        table.append(_clamp8(fp.wrap16(out + output_zero_point)))
    return table


def requantize(input_scale, input_zero_point, output_scale, output_zero_point):
    """int8 -> int8 QUANTIZE (TFLite's Requantize)."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    return [_clamp8(fp.multiply_by_quantized_multiplier(v - input_zero_point, multiplier, shift) + output_zero_point)
            for v in INPUTS]


def softmax(beta, input_scale):
    """SOFTMAX (int8 in, int8 out): exp of every difference ``d = row max - input`` (0..255), and the
    largest ``d`` TFLite Micro still counts (``-diff_min``)."""
    real = min(float(beta) * float(input_scale) * (1 << 26), float((1 << 31) - 1))
    if not real > 1.0:
        # TFLite Micro aborts here (QuantizeMultiplierGreaterThanOne); its input has collapsed to ~0.
        raise ModelError(f"SOFTMAX input scale {float(input_scale):.3g} (times beta {float(beta):.3g}) is below "
                         "2^-26; TFLite Micro cannot run it (expected the scale of a non-degenerate activation)")
    multiplier, left_shift = quantize_multiplier(real)
    radius = _input_radius(5, left_shift)
    exps = []
    for d in range(256):
        if -d >= -radius:
            scaled = fp.doubling_high_mul(fp.wrap32(-d * (1 << left_shift)), multiplier)
            exps.append(fp.exp_on_negative_values(scaled, 5))
        else:
            exps.append(0)
    return exps, radius
