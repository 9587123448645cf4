/* MUL, int8 (TFLite reference_integer_ops::Mul / BroadcastMul4DSlow). */
#include "tfkd_kernels.h"

void tfkd_mul(const tfkd_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          const int32_t a = input1[i0 * p->input1_strides[0] + i1 * p->input1_strides[1] +
                                   i2 * p->input1_strides[2] + i3 * p->input1_strides[3]] + p->input1_offset;
          const int32_t b = input2[i0 * p->input2_strides[0] + i1 * p->input2_strides[1] +
                                   i2 * p->input2_strides[2] + i3 * p->input2_strides[3]] + p->input2_offset;
          const int32_t y = tfkd_requantize(a * b, p->output_multiplier, p->output_shift) + p->output_offset;
          output[out++] = tfkd_clamp(y, p->activation_min, p->activation_max);
        }
      }
    }
  }
}
