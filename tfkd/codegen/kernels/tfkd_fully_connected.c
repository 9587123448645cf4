/* FULLY_CONNECTED, int8 (TFLite reference_integer_ops::FullyConnected / FullyConnectedPerChannel). The
 * filter comes in the paired layout arranged at generation time (tfkd_paired_index in tfkd_kernels.h). */
#include "tfkd_kernels.h"

void tfkd_fully_connected(const tfkd_fully_connected_params *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int8_t *shift, int8_t *output) {
  const int32_t k4 = (p->accum_depth + 3) & ~3;
  int32_t b, out_c, d;
#if defined(__ARM_FEATURE_DSP)
  /* Cortex-M4 path (filter zero point 0, as int8 weights have): SMLAD, the same int32 sums. */
  if (p->filter_offset == 0) {
    tfkd_output_stage o;
    tfkd_output_stage_init(&o, p->output_offset, p->activation_min, p->activation_max, p->fast_requantize, shift,
                           p->output_depth);
    tfkd_matmul(p->batches, p->accum_depth, p->accum_depth, p->output_depth, input, filter, bias,
                multiplier, shift, p->input_offset, &o, output);
    return;
  }
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *row = input + b * p->accum_depth;
    for (out_c = 0; out_c < p->output_depth; ++out_c) {
      int32_t acc = 0;
      for (d = 0; d < p->accum_depth; ++d) {
        acc += ((int32_t)filter[tfkd_paired_index(out_c, d, k4)] + p->filter_offset) *
               ((int32_t)row[d] + p->input_offset);
      }
      if (bias) acc += bias[out_c];
      acc = (p->fast_requantize ? tfkd_requantize_fast(acc, multiplier[out_c], shift[out_c])
                                : tfkd_requantize(acc, multiplier[out_c], shift[out_c])) + p->output_offset;
      output[b * p->output_depth + out_c] = tfkd_clamp(acc, p->activation_min, p->activation_max);
    }
  }
}
