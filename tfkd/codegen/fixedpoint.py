"""gemmlowp's fixed-point arithmetic on Python integers, for tables computed at generation time.

TFLite Micro evaluates int8 LOGISTIC, TANH, HARD_SWISH and the exponentials of SOFTMAX with
gemmlowp's fixed-point routines. Their int8 results depend on one input byte only, so the code
generator evaluates the same integer steps here, once per possible input, and the C looks the
answer up. Every function mirrors one gemmlowp / TFLite routine of the same name, including
its int32 (or int16) wrap-around, saturation and round-half-away-from-zero rules.
"""

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def wrap32(x):
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def wrap16(x):
    return (x + (1 << 15)) % (1 << 16) - (1 << 15)


def _truncating_divide(a, b):
    """C's integer division (rounds towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def doubling_high_mul(a, b, bits=32):
    """SaturatingRoundingDoublingHighMul."""
    low = -(1 << (bits - 1))
    if a == b == low:
        return -low - 1
    product = a * b
    nudge = (1 << (bits - 2)) if product >= 0 else 1 - (1 << (bits - 2))
    return _truncating_divide(product + nudge, 1 << (bits - 1))


def truncating_doubling_high_mul16(a, b):
    """TFLite's SaturatingDoublingHighMul (int16, rounds towards zero)."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return wrap16(_truncating_divide(a * b, 1 << 15))


def rounding_divide_by_pot(x, exponent):
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_rounding_multiply_by_pot(x, exponent):
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return INT32_MAX
        if x < -threshold:
            return INT32_MIN
        return wrap32(x << exponent)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return x


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), as the generated C's tfkd_requantize."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(doubling_high_mul(wrap32(x * (1 << left)), multiplier), right)


def _add(a, b):
    return wrap32(a + b)


def _sub(a, b):
    return wrap32(a - b)


def _one(integer_bits):
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    constant_term, one_third = 1895147668, 715827883
    x = _add(a, 1 << 28)
    x2 = doubling_high_mul(x, x)
    x3 = doubling_high_mul(x2, x)
    x4 = doubling_high_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    tail = saturating_rounding_multiply_by_pot(_add(doubling_high_mul(_add(x4_over_4, x3), one_third), x2), -1)
    return _add(constant_term, doubling_high_mul(constant_term, _add(x, tail)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def exp_on_negative_values(a, integer_bits):
    """exp(a) for a <= 0 given with ``integer_bits`` integer bits; the result has 0 integer bits."""
    fractional_bits = 31 - integer_bits
    quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = _sub(a & (quarter - 1), quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_quarter, integer_bits))
    remainder = _sub(a_mod_quarter_minus_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = doubling_high_mul(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _newton_reciprocal(a):
    half_denominator = _truncating_divide(a + INT32_MAX + (1 if a + INT32_MAX >= 0 else -1), 2)
    x = _add(1515870810, doubling_high_mul(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = _sub(_one(2), doubling_high_mul(half_denominator, x))
        x = _add(x, saturating_rounding_multiply_by_pot(doubling_high_mul(x, one_minus), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a):
    return saturating_rounding_multiply_by_pot(_newton_reciprocal(a), 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    return saturating_rounding_multiply_by_pot(_sub(_newton_reciprocal(a), _one(2)), 2)


def logistic(a, integer_bits):
    absolute = a if a > 0 else wrap32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-absolute), integer_bits))
    if a == 0:
        return 1 << 30
    return positive if a > 0 else _sub(INT32_MAX, positive)


def tanh(a, integer_bits):
    negative = a if a < 0 else wrap32(-a)
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(negative, integer_bits + 1))
    if a == 0:
        return 0
    return wrap32(-t) if a < 0 else t
