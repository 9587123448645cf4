/* TRANSPOSE_CONV, int8, per-channel (TFLite reference_integer_ops::TransposeConv).
 * The reference scatters every input pixel into an int32 scratch image; here each output
 * gathers the same products instead, so no scratch memory is needed. Integer sums do not
 * depend on their order, so the result is the same. */
#include "tfkd_kernels.h"

void tfkd_transpose_conv(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                         int8_t *output) {
  int32_t out_y, out_x, out_c, fy, fx, in_c;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      for (out_c = 0; out_c < p->output_depth; ++out_c) {
        int32_t acc = 0;
        for (fy = 0; fy < p->filter_height; ++fy) {
          const int32_t y = out_y + p->pad_height - fy;
          const int32_t in_y = y / p->stride_height;
          if (y < 0 || y % p->stride_height || in_y >= p->input_height) continue;
          for (fx = 0; fx < p->filter_width; ++fx) {
            const int32_t x = out_x + p->pad_width - fx;
            const int32_t in_x = x / p->stride_width;
            const int8_t *in;
            const int8_t *w;
            if (x < 0 || x % p->stride_width || in_x >= p->input_width) continue;
            in = input + (in_y * p->input_width + in_x) * p->input_depth;
            w = filter + ((out_c * p->filter_height + fy) * p->filter_width + fx) * p->input_depth;
            for (in_c = 0; in_c < p->input_depth; ++in_c) {
              acc += ((int32_t)in[in_c] + p->input_offset) * (int32_t)w[in_c];
            }
          }
        }
        if (bias) acc += bias[out_c];
        acc = tfkd_requantize(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
        output[(out_y * p->output_width + out_x) * p->output_depth + out_c] =
            tfkd_clamp(acc, p->activation_min, p->activation_max);
      }
    }
  }
}
