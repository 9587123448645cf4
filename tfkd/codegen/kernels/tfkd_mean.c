/* MEAN over height and width, int8 (TFLite reference_ops::QuantizedMeanOrSum). */
#include "tfkd_kernels.h"

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
