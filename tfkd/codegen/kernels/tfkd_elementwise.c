/* Table look-up, SOFTMAX, MEAN, PAD, STRIDED_SLICE and copies (CONCATENATION), int8. */
#include "tfkd_kernels.h"

void tfkd_lut(const tfkd_lut_params *p, const int8_t *input, const int8_t *table, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = table[input[i] + 128];
}

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson, Q0.31 in, Q0.31 out). */
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

void tfkd_mean(const tfkd_mean_params *p, const int8_t *input, int8_t *output) {
  const int32_t count = p->height * p->width;
  int32_t c, i;
  for (c = 0; c < p->depth; ++c) {
    int32_t sum = 0;
    for (i = 0; i < count; ++i) sum += input[i * p->depth + c];
    sum -= p->input_zero_point * count;
    output[c] = tfkd_clamp(tfkd_requantize(sum, p->multiplier, p->shift) + p->output_offset, -128, 127);
  }
}

void tfkd_pad(const tfkd_pad_params *p, const int8_t *input, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    const int32_t j0 = i0 - p->before[0];
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      const int32_t j1 = i1 - p->before[1];
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        const int32_t j2 = i2 - p->before[2];
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          const int32_t j3 = i3 - p->before[3];
          const int inside = j0 >= 0 && j0 < p->input_dims[0] && j1 >= 0 && j1 < p->input_dims[1] &&
                             j2 >= 0 && j2 < p->input_dims[2] && j3 >= 0 && j3 < p->input_dims[3];
          output[out++] = inside ? input[((j0 * p->input_dims[1] + j1) * p->input_dims[2] + j2) *
                                         p->input_dims[3] + j3]
                                 : (int8_t)p->pad_value;
        }
      }
    }
  }
}

void tfkd_copy(const tfkd_copy_params *p, const int8_t *input, int8_t *output) {
  int32_t row, i;
  for (row = 0; row < p->rows; ++row) {
    for (i = 0; i < p->row_size; ++i) {
      output[row * p->output_row_size + p->output_offset + i] = input[row * p->row_size + i];
    }
  }
}

void tfkd_strided_slice(const tfkd_slice_params *p, const int8_t *input, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    const int32_t o0 = (p->start[0] + i0 * p->step[0]) * p->input_strides[0];
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      const int32_t o1 = o0 + (p->start[1] + i1 * p->step[1]) * p->input_strides[1];
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        const int32_t o2 = o1 + (p->start[2] + i2 * p->step[2]) * p->input_strides[2];
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          output[out++] = input[o2 + (p->start[3] + i3 * p->step[3]) * p->input_strides[3]];
        }
      }
    }
  }
}
