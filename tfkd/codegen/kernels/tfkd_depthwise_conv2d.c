/* DEPTHWISE_CONV_2D, int8 per-channel (TFLite reference_integer_ops::DepthwiseConvPerChannel). */
#include "tfkd_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* Cortex-M4 path (depth multiplier 1, undilated width): four channels per pass, one word of input
 * and of weights per tap, unpacked to 16-bit halves and multiplied with SMLABB/SMLATT. The same
 * int32 sums as the plain C path. */
static void tfkd_depthwise_conv2d_dsp(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                                      const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                      int8_t *output) {
  const int32_t depth = p->input_depth, groups = depth & ~3;
  const uint32_t xo = tfkd_offset_pair(p->input_offset);
  int32_t out_y, out_x, c, filter_y, filter_x, k;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    int32_t fy_start, fy_end;
    tfkd_rows_in_image(in_y_origin, p->dilation_height, p->filter_height, p->input_height, &fy_start, &fy_end);
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t x0 = out_x * p->stride_width - p->pad_width;
      const int32_t fx_start = x0 < 0 ? -x0 : 0;
      const int32_t fx_end = p->input_width - x0 < p->filter_width ? p->input_width - x0 : p->filter_width;
      const int32_t taps = fx_end > fx_start ? fx_end - fx_start : 0;
      const int32_t row_skip = (p->input_width - taps) * depth, filter_skip = (p->filter_width - taps) * depth;
      const int8_t *in_base = input + ((in_y_origin + p->dilation_height * fy_start) * p->input_width + x0 + fx_start) * depth;
      const int8_t *w_base = filter + (fy_start * p->filter_width + fx_start) * depth;
      int8_t *out = output + (out_y * p->output_width + out_x) * depth;
      for (c = 0; c < groups; c += 4) {
        const int8_t *in = in_base + c, *w = w_base + c;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (filter_y = fy_start; filter_y < fy_end; ++filter_y) {
          for (filter_x = 0; filter_x < taps; ++filter_x) {
            const uint32_t xv = tfkd_read4(in), wv = tfkd_read4(w);
            const uint32_t xe = tfkd_sxtab16(xo, xv), xd = tfkd_sxtab16_ror8(xo, xv);
            const uint32_t we = tfkd_sxtb16(wv), wd = tfkd_sxtb16_ror8(wv);
            in += depth; w += depth;
            a0 = tfkd_smlabb(xe, we, a0); a2 = tfkd_smlatt(xe, we, a2);
            a1 = tfkd_smlabb(xd, wd, a1); a3 = tfkd_smlatt(xd, wd, a3);
          }
          in += row_skip + (p->dilation_height - 1) * p->input_width * depth;
          w += filter_skip;
        }
        if (bias) { a0 += bias[c]; a1 += bias[c + 1]; a2 += bias[c + 2]; a3 += bias[c + 3]; }
        a0 = tfkd_requantize(a0, multiplier[c], shift[c]) + p->output_offset;
        a1 = tfkd_requantize(a1, multiplier[c + 1], shift[c + 1]) + p->output_offset;
        a2 = tfkd_requantize(a2, multiplier[c + 2], shift[c + 2]) + p->output_offset;
        a3 = tfkd_requantize(a3, multiplier[c + 3], shift[c + 3]) + p->output_offset;
        out[c] = tfkd_clamp(a0, p->activation_min, p->activation_max);
        out[c + 1] = tfkd_clamp(a1, p->activation_min, p->activation_max);
        out[c + 2] = tfkd_clamp(a2, p->activation_min, p->activation_max);
        out[c + 3] = tfkd_clamp(a3, p->activation_min, p->activation_max);
      }
      for (c = groups; c < depth; ++c) {
        const int8_t *in = in_base + c, *w = w_base + c;
        int32_t acc = 0;
        for (filter_y = fy_start; filter_y < fy_end; ++filter_y) {
          for (k = 0; k < taps; ++k) {
            acc += *w * (*in + p->input_offset);
            in += depth; w += depth;
          }
          in += row_skip + (p->dilation_height - 1) * p->input_width * depth;
          w += filter_skip;
        }
        if (bias) acc += bias[c];
        acc = tfkd_requantize(acc, multiplier[c], shift[c]) + p->output_offset;
        out[c] = tfkd_clamp(acc, p->activation_min, p->activation_max);
      }
    }
  }
}
#endif

void tfkd_depthwise_conv2d(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           int8_t *output) {
  int32_t out_y, out_x, in_c, m, filter_y, filter_x;
#if defined(__ARM_FEATURE_DSP)
  if (p->depth_multiplier == 1 && p->dilation_width == 1) {
    tfkd_depthwise_conv2d_dsp(p, input, filter, bias, multiplier, shift, output);
    return;
  }
#endif
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
      for (in_c = 0; in_c < p->input_depth; ++in_c) {
        for (m = 0; m < p->depth_multiplier; ++m) {
          /* Each input channel feeds depth_multiplier consecutive output channels. */
          const int32_t out_c = in_c * p->depth_multiplier + m;
          int32_t acc = 0;
          for (filter_y = 0; filter_y < p->filter_height; ++filter_y) {
            const int32_t in_y = in_y_origin + p->dilation_height * filter_y;
            if (in_y < 0 || in_y >= p->input_height) continue;
            for (filter_x = 0; filter_x < p->filter_width; ++filter_x) {
              const int32_t in_x = in_x_origin + p->dilation_width * filter_x;
              int32_t in_value, w;
              if (in_x < 0 || in_x >= p->input_width) continue;
              in_value = input[(in_y * p->input_width + in_x) * p->input_depth + in_c];
              w = filter[(filter_y * p->filter_width + filter_x) * p->output_depth + out_c];
              acc += w * (in_value + p->input_offset);
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
}
