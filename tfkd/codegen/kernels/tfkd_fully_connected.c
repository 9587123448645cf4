/* FULLY_CONNECTED, int8 (TFLite reference_integer_ops::FullyConnected / FullyConnectedPerChannel). */
#include "tfkd_kernels.h"

void tfkd_fully_connected(const tfkd_fully_connected_params *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output) {
  int32_t b, out_c, d;
#if defined(__ARM_FEATURE_DSP)
  /* Cortex-M4 path (filter zero point 0, as int8 weights have): two outputs by two batch rows per
   * pass with SMLAD; the same int32 sums as the plain C loop below. */
  for (b = 0; p->filter_offset == 0 && b < p->batches; b += 2) {
    const int32_t pair = b + 1 < p->batches;
    const int8_t *row = input + b * p->accum_depth;
    for (out_c = 0; out_c < p->output_depth; out_c += 2) {
      const int32_t second = out_c + 1 < p->output_depth;
      const int8_t *w0 = filter + out_c * p->accum_depth;
      const int32_t b0 = bias ? bias[out_c] : 0, b1 = bias && second ? bias[out_c + 1] : 0;
      int32_t acc[4] = {b0, b0, b1, b1};
      int32_t k;
      if (pair) {
        tfkd_dot_2x2(row, row + p->accum_depth, w0, second ? w0 + p->accum_depth : w0, p->accum_depth,
                     p->input_offset, acc);
      } else {
        int32_t two[2];
        two[0] = acc[0]; two[1] = acc[2];
        tfkd_dot_2x1(row, w0, second ? w0 + p->accum_depth : w0, p->accum_depth, p->input_offset, two);
        acc[0] = two[0]; acc[2] = two[1];
      }
      for (k = 0; k < 2 + 2 * second; ++k) {
        const int32_t c = out_c + (k >> 1);
        int32_t v;
        if ((k & 1) && !pair) continue;
        v = tfkd_requantize(acc[k], multiplier[c], shift[c]) + p->output_offset;
        output[(b + (k & 1)) * p->output_depth + c] = tfkd_clamp(v, p->activation_min, p->activation_max);
      }
    }
  }
  if (p->filter_offset == 0) return;
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *row = input + b * p->accum_depth;
    for (out_c = 0; out_c < p->output_depth; ++out_c) {
      const int8_t *w = filter + out_c * p->accum_depth;
      int32_t acc = 0;
      for (d = 0; d < p->accum_depth; ++d) {
        acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)row[d] + p->input_offset);
      }
      if (bias) acc += bias[out_c];
      acc = tfkd_requantize(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
      output[b * p->output_depth + out_c] = tfkd_clamp(acc, p->activation_min, p->activation_max);
    }
  }
}
