/* CONV_2D, int8 per-channel (TFLite reference_integer_ops::ConvPerChannel semantics). */
#include "tfkd_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* Cortex-M4 path (undilated width): two output channels by two output pixels per pass, each filter
 * row's in-image taps one contiguous run of input and of weights, summed with SMLAD. The sums are
 * the plain C path's, term for term, so the outputs are the same. */
static void tfkd_conv2d_dsp(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output) {
  const int32_t depth = p->input_depth, out_depth = p->output_depth;
  const int32_t channel_stride = p->filter_height * p->filter_width * depth;
  int32_t out_y, out_x, out_c, filter_y;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    int32_t fy_start, fy_end;
    tfkd_rows_in_image(in_y_origin, p->dilation_height, p->filter_height, p->input_height, &fy_start, &fy_end);
    for (out_x = 0; out_x < p->output_width;) {
      const int32_t x0 = out_x * p->stride_width - p->pad_width, x1 = x0 + p->stride_width;
      const int32_t fx_start = x0 < 0 ? -x0 : 0;
      const int32_t fx_end = p->input_width - x0 < p->filter_width ? p->input_width - x0 : p->filter_width;
      /* Pair two pixels when both see the same taps of every filter row. */
      const int32_t pair = out_x + 1 < p->output_width && x0 >= 0 &&
                           (p->input_width - x1 < p->filter_width ? p->input_width - x1 : p->filter_width) == fx_end;
      const int32_t run = fx_end > fx_start ? (fx_end - fx_start) * depth : 0;
      int8_t *out = output + (out_y * p->output_width + out_x) * out_depth;
      for (out_c = 0; out_c < out_depth; out_c += 2) {
        const int32_t second = out_c + 1 < out_depth;
        const int32_t b0 = bias ? bias[out_c] : 0, b1 = bias && second ? bias[out_c + 1] : 0;
        int32_t acc[4] = {b0, b0, b1, b1};
        int32_t k;
        for (filter_y = fy_start; filter_y < fy_end && run; ++filter_y) {
          const int32_t in_y = in_y_origin + p->dilation_height * filter_y;
          const int8_t *in = input + (in_y * p->input_width + x0 + fx_start) * depth;
          const int8_t *w0 = filter + out_c * channel_stride + (filter_y * p->filter_width + fx_start) * depth;
          const int8_t *w1 = second ? w0 + channel_stride : w0;
          if (pair) {
            tfkd_dot_2x2(in, in + p->stride_width * depth, w0, w1, run, p->input_offset, acc);
          } else {
            int32_t two[2];
            two[0] = acc[0]; two[1] = acc[2];
            tfkd_dot_2x1(in, w0, w1, run, p->input_offset, two);
            acc[0] = two[0]; acc[2] = two[1];
          }
        }
        if (pair && second) {
          const int32_t m0 = multiplier[out_c], s0 = shift[out_c];
          const int32_t m1 = multiplier[out_c + 1], s1 = shift[out_c + 1];
          const int32_t o = p->output_offset, low = p->activation_min, high = p->activation_max;
          out[out_c] = tfkd_clamp(tfkd_requantize(acc[0], m0, s0) + o, low, high);
          out[out_depth + out_c] = tfkd_clamp(tfkd_requantize(acc[1], m0, s0) + o, low, high);
          out[out_c + 1] = tfkd_clamp(tfkd_requantize(acc[2], m1, s1) + o, low, high);
          out[out_depth + out_c + 1] = tfkd_clamp(tfkd_requantize(acc[3], m1, s1) + o, low, high);
          continue;
        }
        for (k = 0; k < 2 + 2 * second; ++k) {
          const int32_t c = out_c + (k >> 1);
          int32_t v;
          if ((k & 1) && !pair) continue;
          v = tfkd_requantize(acc[k], multiplier[c], shift[c]) + p->output_offset;
          out[(k & 1) * out_depth + c] = tfkd_clamp(v, p->activation_min, p->activation_max);
        }
      }
      out_x += pair ? 2 : 1;
    }
  }
}

/* Largest patch (filter_height x filter_width x input_depth) copied per pixel for shallow inputs. */
#define TFKD_IM2COL_MAX 128

static void tfkd_copy_patch(const tfkd_conv_params *p, const int8_t *input, int32_t out_y, int32_t out_x,
                            int8_t *patch) {
  const int32_t depth = p->input_depth;
  /* Padding holds the input zero point, whose (value + input_offset) is 0: it adds nothing, as the
   * plain C path's skipped taps. */
  const int8_t pad_value = (int8_t)(-p->input_offset);
  int32_t filter_y, filter_x, c;
  for (filter_y = 0; filter_y < p->filter_height; ++filter_y) {
    const int32_t in_y = out_y * p->stride_height - p->pad_height + p->dilation_height * filter_y;
    for (filter_x = 0; filter_x < p->filter_width; ++filter_x) {
      const int32_t in_x = out_x * p->stride_width - p->pad_width + p->dilation_width * filter_x;
      if (in_y < 0 || in_y >= p->input_height || in_x < 0 || in_x >= p->input_width) {
        for (c = 0; c < depth; ++c) *patch++ = pad_value;
      } else {
        const int8_t *in = input + (in_y * p->input_width + in_x) * depth;
        for (c = 0; c < depth; ++c) *patch++ = in[c];
      }
    }
  }
}

/* Cortex-M4 path for shallow inputs (a patch of at most TFKD_IM2COL_MAX values): each output pixel's
 * patch copied into a buffer (im2col), two pixels at a time, then one SMLAD run per channel pair. */
static void tfkd_conv2d_im2col(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               int8_t *output) {
  const int32_t k = p->filter_height * p->filter_width * p->input_depth;
  const int32_t pixels = p->output_height * p->output_width;
  int8_t patch[2 * k]; /* k <= TFKD_IM2COL_MAX */
  int32_t pixel;
  for (pixel = 0; pixel < pixels; pixel += 2) {
    const int32_t rows = pixel + 1 < pixels ? 2 : 1;
    int32_t r;
    for (r = 0; r < rows; ++r) {
      tfkd_copy_patch(p, input, (pixel + r) / p->output_width, (pixel + r) % p->output_width, patch + r * k);
    }
    tfkd_matmul_dsp(rows, k, p->output_depth, patch, filter, bias, multiplier, shift, p->input_offset,
                    p->output_offset, p->activation_min, p->activation_max,
                    output + pixel * p->output_depth);
  }
}
#endif

void tfkd_conv2d(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                 int8_t *output) {
  int32_t out_y, out_x, out_c, filter_y, filter_x, in_c;
#if defined(__ARM_FEATURE_DSP)
  if (p->filter_height == 1 && p->filter_width == 1 && p->stride_height == 1 && p->stride_width == 1 &&
      p->pad_height == 0 && p->pad_width == 0 && p->input_height == p->output_height &&
      p->input_width == p->output_width) {
    /* Pointwise: every pixel a row of a matrix product. */
    tfkd_matmul_dsp(p->output_height * p->output_width, p->input_depth, p->output_depth, input, filter, bias,
                    multiplier, shift, p->input_offset, p->output_offset, p->activation_min,
                    p->activation_max, output);
    return;
  }
  if (p->input_depth < 4 && p->filter_height * p->filter_width * p->input_depth <= TFKD_IM2COL_MAX) {
    tfkd_conv2d_im2col(p, input, filter, bias, multiplier, shift, output);
    return;
  }
  if (p->dilation_width == 1) {
    tfkd_conv2d_dsp(p, input, filter, bias, multiplier, shift, output);
    return;
  }
#endif
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
