/* CONV_2D, int8 per-channel (TFLite reference_integer_ops::ConvPerChannel semantics). */
#include "tfkd_kernels.h"

void tfkd_conv2d(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                 int8_t *output) {
  int32_t out_y, out_x, out_c, filter_y, filter_x, in_c;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
      for (out_c = 0; out_c < p->output_depth; ++out_c) {
        int32_t acc = 0;
        for (filter_y = 0; filter_y < p->filter_height; ++filter_y) {
          const int32_t in_y = in_y_origin + p->dilation_height * filter_y;
          /* Taps outside the image read zero-point padding, which contributes nothing. */
          if (in_y < 0 || in_y >= p->input_height) continue;
          for (filter_x = 0; filter_x < p->filter_width; ++filter_x) {
            const int32_t in_x = in_x_origin + p->dilation_width * filter_x;
            const int8_t *in;
            const int8_t *w;
            if (in_x < 0 || in_x >= p->input_width) continue;
            in = input + (in_y * p->input_width + in_x) * p->input_depth;
            w = filter + ((out_c * p->filter_height + filter_y) * p->filter_width + filter_x) * p->input_depth;
            for (in_c = 0; in_c < p->input_depth; ++in_c) {
              acc += (int32_t)w[in_c] * ((int32_t)in[in_c] + p->input_offset);
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
