/* ADD and SUB, int8 (TFLite reference_integer_ops::Add, reference_ops::Sub and their broadcasting variants). Both inputs are
 * moved onto a common scale, 2^left_shift finer than the larger input scale, summed and
 * requantised to the output scale. */
#include "tfkd_kernels.h"

static int32_t tfkd_add_one(const tfkd_add_params *p, int32_t a, int32_t b) {
  const int32_t shifted_a = (a + p->input1_offset) * (1 << p->left_shift);
  const int32_t shifted_b = (b + p->input2_offset) * (1 << p->left_shift);
  /* Input shifts are <= 0 (multipliers below one), so tfkd_requantize only divides. */
  const int32_t scaled_a = tfkd_requantize(shifted_a, p->input1_multiplier, p->input1_shift);
  const int32_t scaled_b = tfkd_requantize(shifted_b, p->input2_multiplier, p->input2_shift);
  const int32_t sum = p->subtract ? scaled_a - scaled_b : scaled_a + scaled_b;
  return tfkd_requantize(sum, p->output_multiplier, p->output_shift) + p->output_offset;
}

void tfkd_add(const tfkd_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          const int32_t a = input1[i0 * p->input1_strides[0] + i1 * p->input1_strides[1] +
                                   i2 * p->input1_strides[2] + i3 * p->input1_strides[3]];
          const int32_t b = input2[i0 * p->input2_strides[0] + i1 * p->input2_strides[1] +
                                   i2 * p->input2_strides[2] + i3 * p->input2_strides[3]];
          output[out++] = tfkd_clamp(tfkd_add_one(p, a, b), p->activation_min, p->activation_max);
        }
      }
    }
  }
}
