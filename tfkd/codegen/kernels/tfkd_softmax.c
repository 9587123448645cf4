/* SOFTMAX, int8 in and out (TFLite reference_ops::Softmax with gemmlowp fixed point). */
#include "tfkd_kernels.h"

static int32_t tfkd_wrapping_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static int32_t tfkd_one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = tfkd_wrapping_add(1515870810, tfkd_doubling_high_mul(half_denominator, -1010580540)); /* Q2.29 */
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = tfkd_wrapping_add(1 << 29, -tfkd_doubling_high_mul(half_denominator, x));
    const int32_t product = tfkd_doubling_high_mul(x, one_minus); /* Q4.27, rescaled to Q2.29 saturating */
    const int32_t rescaled = product > (1 << 29) - 1 ? INT32_MAX
                             : product < -((1 << 29) - 1) ? INT32_MIN : product * 4;
    x = tfkd_wrapping_add(x, rescaled);
  }
  /* x / 2 in Q1.30, rescaled to Q0.31 saturating. */
  return x > (1 << 30) - 1 ? INT32_MAX : x < -((1 << 30) - 1) ? INT32_MIN : x * 2;
}

static int32_t tfkd_leading_zeros(uint32_t x) {
  int32_t n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

void tfkd_softmax(const tfkd_softmax_params *p, const int8_t *input, const int32_t *exps, int8_t *output) {
  int32_t row, c;
  for (row = 0; row < p->rows; ++row) {
    const int8_t *in = input + row * p->depth;
    int8_t *out = output + row * p->depth;
    int32_t max = -128, sum = 0, headroom, scale, exponent;
    for (c = 0; c < p->depth; ++c) max = in[c] > max ? in[c] : max;
    for (c = 0; c < p->depth; ++c) {
      const int32_t d = max - in[c];
      /* Sum in Q12.19, wrapping as the reference's int32 does. */
      if (d <= p->max_diff) sum = tfkd_wrapping_add(sum, tfkd_rounding_divide_by_pot(exps[d], 12));
    }
    headroom = tfkd_leading_zeros((uint32_t)sum);
    scale = tfkd_one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - (1u << 31)));
    exponent = (12 - headroom) + 31 - 8;
    for (c = 0; c < p->depth; ++c) {
      const int32_t d = max - in[c];
      if (d <= p->max_diff) {
        const int32_t y = tfkd_rounding_divide_by_pot(tfkd_doubling_high_mul(scale, exps[d]), exponent) - 128;
        out[c] = tfkd_clamp(y, -128, 127);
      } else {
        out[c] = -128;
      }
    }
  }
}
