/* CONV_2D, int8 per-channel (TFLite reference_integer_ops::ConvPerChannel semantics). The filter comes in
 * the paired layout arranged at generation time (tfkd_paired_index in tfkd_kernels.h). */
#include "tfkd_kernels.h"

#if defined(__ARM_FEATURE_DSP)
/* Cortex-M4 path for input depths that are a multiple of 4 (undilated width): two output channels by two
 * output pixels per pass. Each filter row's in-image taps are one contiguous run of input and, because the
 * depth is a multiple of 4, one contiguous run of whole groups of the pair's weights; SMLAD sums them. The
 * sums are the plain C path's, term for term, so the outputs are the same. */
static void tfkd_conv2d_dsp(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                            const tfkd_output_stage *o, int8_t *output) {
  const int32_t depth = p->input_depth, out_depth = p->output_depth;
  const int32_t k4 = p->filter_height * p->filter_width * depth; /* a multiple of 4 already */
  const int32_t x_step = p->stride_width * depth;
  const uint32_t xo = tfkd_offset_pair(p->input_offset);
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
      const int32_t groups = fx_end > fx_start ? (fx_end - fx_start) * depth / 4 : 0;
      int8_t *out = output + (out_y * p->output_width + out_x) * out_depth;
      for (out_c = 0; out_c < out_depth; out_c += 2) {
        const int32_t second = out_c + 1 < out_depth;
        const int32_t b0 = bias ? bias[out_c] : 0, b1 = bias && second ? bias[out_c + 1] : 0;
        const int8_t *pair_filter = filter + out_c * k4;
        int32_t acc[4];
        acc[0] = b0; acc[1] = b0; acc[2] = b1; acc[3] = b1;
        for (filter_y = fy_start; filter_y < fy_end && groups; ++filter_y) {
          const int32_t in_y = in_y_origin + p->dilation_height * filter_y;
          const int8_t *in = input + (in_y * p->input_width + x0 + fx_start) * depth;
          /* Weight (filter_y, fx_start, 0) is flat index i = (filter_y * fw + fx_start) * depth, a multiple of
           * 4: its group starts at 2 * i in the pair's block. */
          const int8_t *w = pair_filter + 2 * (filter_y * p->filter_width + fx_start) * depth;
          if (pair) {
            tfkd_dot_paired_2x2(in, x_step, w, groups, xo, acc);
          } else {
            tfkd_dot_paired_2x1(in, w, groups, xo, acc);
          }
        }
        tfkd_store_block(o, acc, multiplier, shift, out_c, second, pair, out, out_depth);
      }
      out_x += pair ? 2 : 1;
    }
  }
}

/* The patch of output pixel (out_y, out_x), widened (tfkd_widen_row's pairs, every stride words), for a
 * filter row of whole groups (filter_width * input_depth a multiple of 4); values in the padding are 0.
 * A row inside the image is one run of input, widened a word at a time; a row cut by the image's side, or
 * dilated, goes tap by tap when the depth is a multiple of 4, else value by value. */
static void tfkd_widen_patch(const tfkd_conv_params *p, const int8_t *input, int32_t out_y, int32_t out_x,
                             uint32_t *dst, int32_t stride) {
  const int32_t depth = p->input_depth, width = p->input_width, row_values = p->filter_width * depth;
  const int32_t x0 = out_x * p->stride_width - p->pad_width;
  const int32_t whole = p->dilation_width == 1 && x0 >= 0 && x0 + p->filter_width <= width;
  const uint32_t xo = tfkd_offset_pair(p->input_offset);
  int32_t filter_y, filter_x, d, j;
  for (filter_y = 0; filter_y < p->filter_height; ++filter_y) {
    const int32_t in_y = out_y * p->stride_height - p->pad_height + p->dilation_height * filter_y;
    const int8_t *row;
    if (in_y < 0 || in_y >= p->input_height) {
      for (d = 0; d < row_values; d += 4, dst += stride) dst[0] = dst[1] = 0;
      continue;
    }
    row = input + in_y * width * depth;
    if (whole) {
      for (d = 0; d < row_values; d += 4, dst += stride) {
        const uint32_t v = tfkd_read4(row + x0 * depth + d);
        dst[0] = tfkd_sxtab16(xo, v);
        dst[1] = tfkd_sxtab16_ror8(xo, v);
      }
      continue;
    }
    if (depth % 4 == 0) {
      for (filter_x = 0; filter_x < p->filter_width; ++filter_x) {
        const int32_t in_x = x0 + p->dilation_width * filter_x;
        for (d = 0; d < depth; d += 4, dst += stride) {
          uint32_t v;
          if (in_x < 0 || in_x >= width) {
            dst[0] = dst[1] = 0;
            continue;
          }
          v = tfkd_read4(row + in_x * depth + d);
          dst[0] = tfkd_sxtab16(xo, v);
          dst[1] = tfkd_sxtab16_ror8(xo, v);
        }
      }
      continue;
    }
    for (d = 0; d < row_values; d += 4, dst += stride) {
      int32_t lane[4];
      for (j = 0; j < 4; ++j) {
        const int32_t tap = (d + j) / depth, in_x = x0 + p->dilation_width * tap;
        lane[j] = in_x >= 0 && in_x < width ? row[in_x * depth + d + j - tap * depth] + p->input_offset : 0;
      }
      dst[0] = ((uint32_t)lane[0] & 0xFFFFu) | ((uint32_t)lane[2] << 16);
      dst[1] = ((uint32_t)lane[1] & 0xFFFFu) | ((uint32_t)lane[3] << 16);
    }
  }
}

/* Cortex-M4 path for filter rows of whole groups (depth a multiple of 4, or an undilated row whose width
 * times depth is: DS-CNN's 10x4 depth-1 filter) and patches of at most TFKD_WIDE_MAX_DEPTH values: two
 * output pixels' patches widened into one scratch (im2col straight to int16, 16 bytes a group), then
 * every output channel pair from it as in tfkd_matmul. */
static void tfkd_conv2d_wide(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                             const tfkd_output_stage *o, int8_t *output) {
  const int32_t groups = p->filter_height * p->filter_width * p->input_depth / 4;
  const int32_t pixels = p->output_height * p->output_width;
  uint32_t wide[4 * groups];
  int32_t pixel, out_y = 0, out_x = 0;
  for (pixel = 0; pixel + 1 < pixels; pixel += 2) {
    tfkd_widen_patch(p, input, out_y, out_x, wide, 4);
    if (++out_x == p->output_width) out_x = 0, ++out_y;
    tfkd_widen_patch(p, input, out_y, out_x, wide + 2, 4);
    if (++out_x == p->output_width) out_x = 0, ++out_y;
    tfkd_matmul_wide_rows2(wide, groups, p->output_depth, filter, bias, multiplier, shift, o,
                           output + pixel * p->output_depth);
  }
  if (pixel < pixels) {
    tfkd_widen_patch(p, input, out_y, out_x, wide, 2);
    tfkd_matmul_wide_rows1(wide, groups, p->output_depth, filter, bias, multiplier, shift, o,
                           output + pixel * p->output_depth);
  }
}

/* Largest patch (filter_height x filter_width x input_depth, rounded up to 4) copied per pixel. */
#define TFKD_IM2COL_MAX 256

/* The patch of output pixel (out_y, out_x) into patch[0..k4): taps in filter order, then k4 - k values to
 * reach a whole group. Padding and the rounding values hold the input zero point, whose (value +
 * input_offset) is 0: they add nothing, as the plain C path's skipped taps. */
static void tfkd_copy_patch(const tfkd_conv_params *p, const int8_t *input, int32_t out_y, int32_t out_x,
                            int32_t k4, int8_t *patch) {
  const int32_t depth = p->input_depth, row_values = p->filter_width * depth;
  const int8_t pad_value = (int8_t)(-p->input_offset);
  const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
  int8_t *const end = patch + k4;
  int32_t filter_y, filter_x, c;
  for (filter_y = 0; filter_y < p->filter_height; ++filter_y) {
    const int32_t in_y = out_y * p->stride_height - p->pad_height + p->dilation_height * filter_y;
    if (in_y < 0 || in_y >= p->input_height) {
      for (c = 0; c < row_values; ++c) *patch++ = pad_value;
      continue;
    }
    if (p->dilation_width == 1) {
      /* The row's in-image taps are one run of input: copy it whole, padding before and after. */
      const int32_t before = in_x_origin < 0 ? (-in_x_origin < p->filter_width ? -in_x_origin : p->filter_width) : 0;
      const int32_t stop = p->input_width - in_x_origin < p->filter_width ? p->input_width - in_x_origin
                                                                          : p->filter_width;
      const int32_t inside = stop > before ? stop - before : 0;
      const int8_t *in = input + (in_y * p->input_width + in_x_origin + before) * depth;
      for (c = 0; c < before * depth; ++c) *patch++ = pad_value;
      for (c = 0; c < inside * depth; ++c) *patch++ = in[c];
      for (c = (before + inside) * depth; c < row_values; ++c) *patch++ = pad_value;
      continue;
    }
    for (filter_x = 0; filter_x < p->filter_width; ++filter_x) {
      const int32_t in_x = in_x_origin + p->dilation_width * filter_x;
      if (in_x < 0 || in_x >= p->input_width) {
        for (c = 0; c < depth; ++c) *patch++ = pad_value;
      } else {
        const int8_t *in = input + (in_y * p->input_width + in_x) * depth;
        for (c = 0; c < depth; ++c) *patch++ = in[c];
      }
    }
  }
  while (patch != end) *patch++ = pad_value;
}

/* Cortex-M4 path for depths that are not a multiple of 4 (shallow first layers), with a patch of at most
 * TFKD_IM2COL_MAX values: each output pixel's patch copied into a buffer (im2col), two pixels at a time, so
 * that the patch is one run of whole groups, then the paired matrix product. */
static void tfkd_conv2d_im2col(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                               const tfkd_output_stage *o, int8_t *output) {
  const int32_t k4 = (p->filter_height * p->filter_width * p->input_depth + 3) & ~3;
  const int32_t pixels = p->output_height * p->output_width;
  /* Word-aligned (the patch is read a word at a time); k4 <= TFKD_IM2COL_MAX bounds the stack. */
  uint32_t words[2 * k4 / 4];
  int8_t *const patch = (int8_t *)words;
  int32_t pixel, out_y = 0, out_x = 0;
  for (pixel = 0; pixel < pixels; pixel += 2) {
    const int32_t rows = pixel + 1 < pixels ? 2 : 1;
    int32_t r;
    for (r = 0; r < rows; ++r) {
      tfkd_copy_patch(p, input, out_y, out_x, k4, patch + r * k4);
      if (++out_x == p->output_width) {
        out_x = 0;
        ++out_y;
      }
    }
    tfkd_matmul(rows, k4, k4, p->output_depth, patch, filter, bias, multiplier, shift, p->input_offset,
                o, output + pixel * p->output_depth);
  }
}

/* Cortex-M4 path for depth-1 inputs and filters of 3 rows by at most 4 columns with few output channels
 * (MobileNet's first layer: 9 products an output, so the per-output costs decide). Each filter row is one
 * group of 4 input values, read as one word from the input row and widened (SXTAB16, offset added): three
 * words give a pixel's 12 lanes, the lanes past the filter width having weight 0. Each channel's weights
 * are unpacked once per call into a stack table in the lanes' order, beside its bias and folded
 * requantisation constants (tfkd_requantize_folded), so that a channel costs its 6 SMLAD and its output
 * stage. Pixels whose window leaves the image gather their lanes one by one (lanes outside count 0). */
#define TFKD_TAPS3_MAX_CHANNELS 8

typedef struct {
  uint32_t w[6];
  int32_t bias, m, round, rs1;
} tfkd_taps3_channel;

/* Channel t's output for a pixel's widened lanes x0..x5, saturated to int8. */
static inline __attribute__((always_inline)) int32_t tfkd_taps3_output(const tfkd_taps3_channel *t, uint32_t x0,
                                                                       uint32_t x1, uint32_t x2, uint32_t x3,
                                                                       uint32_t x4, uint32_t x5) {
  int32_t acc = t->bias;
  acc = tfkd_smlad(x0, t->w[0], acc); acc = tfkd_smlad(x1, t->w[1], acc);
  acc = tfkd_smlad(x2, t->w[2], acc); acc = tfkd_smlad(x3, t->w[3], acc);
  acc = tfkd_smlad(x4, t->w[4], acc); acc = tfkd_smlad(x5, t->w[5], acc);
  return tfkd_ssat8_half(tfkd_requantize_folded(acc, t->m, t->round, t->rs1));
}

static void tfkd_conv2d_taps3(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                              const tfkd_output_stage *o, int8_t *output) {
  const int32_t fw = p->filter_width, width = p->input_width, height = p->input_height;
  const int32_t out_depth = p->output_depth, k4 = (3 * fw + 3) & ~3, row_step = p->dilation_height * width;
  const uint32_t xo = tfkd_offset_pair(p->input_offset);
  const int32_t low = (int8_t)o->low4, high = (int8_t)o->high4;
  tfkd_taps3_channel table[TFKD_TAPS3_MAX_CHANNELS];
  int32_t out_y, out_x, c, fy, j;
  for (c = 0; c < out_depth; ++c) {
    tfkd_taps3_channel *t = &table[c];
    int32_t lane[4];
    for (fy = 0; fy < 3; ++fy) {
      for (j = 0; j < 4; ++j) lane[j] = j < fw ? filter[tfkd_paired_index(c, fy * fw + j, k4)] : 0;
      t->w[2 * fy] = ((uint32_t)lane[0] & 0xFFFFu) | ((uint32_t)lane[2] << 16);
      t->w[2 * fy + 1] = ((uint32_t)lane[1] & 0xFFFFu) | ((uint32_t)lane[3] << 16);
    }
    t->bias = bias ? bias[c] : 0;
    t->m = multiplier[c];
    t->rs1 = ~shift[c];
    t->round = o->offset_round << t->rs1;
  }
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t y0 = out_y * p->stride_height - p->pad_height;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t x0 = out_x * p->stride_width - p->pad_width;
      int8_t *out = output + (out_y * p->output_width + out_x) * out_depth;
      const tfkd_taps3_channel *t = table;
      uint32_t x[6];
      /* The word read from the last row may reach past the row (lanes of weight 0) but not past the input. */
      if (x0 >= 0 && x0 + fw <= width && y0 >= 0 && y0 + 2 * p->dilation_height < height &&
          (y0 + 2 * p->dilation_height) * width + x0 + 4 <= height * width) {
        const int8_t *in = input + y0 * width + x0;
        for (fy = 0; fy < 3; ++fy, in += row_step) {
          const uint32_t word = tfkd_read4(in);
          x[2 * fy] = tfkd_sxtab16(xo, word);
          x[2 * fy + 1] = tfkd_sxtab16_ror8(xo, word);
        }
      } else {
        for (fy = 0; fy < 3; ++fy) {
          const int32_t in_y = y0 + p->dilation_height * fy;
          int32_t lane[4];
          for (j = 0; j < 4; ++j) {
            const int32_t in_x = x0 + j;
            lane[j] = j < fw && in_y >= 0 && in_y < height && in_x >= 0 && in_x < width
                          ? input[in_y * width + in_x] + p->input_offset : 0;
          }
          x[2 * fy] = ((uint32_t)lane[0] & 0xFFFFu) | ((uint32_t)lane[2] << 16);
          x[2 * fy + 1] = ((uint32_t)lane[1] & 0xFFFFu) | ((uint32_t)lane[3] << 16);
        }
      }
      {
        const uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5];
        for (c = 0; c + 4 <= out_depth; c += 4, t += 4) {
          const int32_t v0 = tfkd_taps3_output(t, x0, x1, x2, x3, x4, x5);
          const int32_t v1 = tfkd_taps3_output(t + 1, x0, x1, x2, x3, x4, x5);
          const int32_t v2 = tfkd_taps3_output(t + 2, x0, x1, x2, x3, x4, x5);
          const int32_t v3 = tfkd_taps3_output(t + 3, x0, x1, x2, x3, x4, x5);
          *(tfkd_unaligned_u32 *)(out + c) = tfkd_clamp4(tfkd_pack4(v0, v1, v2, v3), o->low4, o->high4);
        }
        for (; c < out_depth; ++c, ++t) out[c] = tfkd_clamp(tfkd_taps3_output(t, x0, x1, x2, x3, x4, x5), low, high);
      }
    }
  }
}
#endif

void tfkd_conv2d(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                 const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                 int8_t *output) {
  const int32_t k4 = (p->filter_height * p->filter_width * p->input_depth + 3) & ~3;
  int32_t out_y, out_x, out_c, filter_y, filter_x, in_c;
#if defined(__ARM_FEATURE_DSP)
  tfkd_output_stage o;
  tfkd_output_stage_init(&o, p->output_offset, p->activation_min, p->activation_max, p->fast_requantize, shift,
                         p->output_depth);
  if (p->filter_height == 1 && p->filter_width == 1 && p->stride_height == 1 && p->stride_width == 1 &&
      p->pad_height == 0 && p->pad_width == 0 && p->input_height == p->output_height &&
      p->input_width == p->output_width) {
    /* Pointwise: every pixel a row of a matrix product. */
    tfkd_matmul(p->output_height * p->output_width, p->input_depth, p->input_depth, p->output_depth, input,
                filter, bias, multiplier, shift, p->input_offset, &o, output);
    return;
  }
  if (p->input_depth == 1 && p->filter_height == 3 && p->filter_width <= 4 && p->dilation_width == 1 &&
      p->output_depth <= TFKD_TAPS3_MAX_CHANNELS && o.folded) {
    tfkd_conv2d_taps3(p, input, filter, bias, multiplier, shift, &o, output);
    return;
  }
  if ((p->input_depth % 4 == 0 || (p->dilation_width == 1 && p->filter_width * p->input_depth % 4 == 0)) &&
      k4 <= TFKD_WIDE_MAX_DEPTH) {
    tfkd_conv2d_wide(p, input, filter, bias, multiplier, shift, &o, output);
    return;
  }
  if (p->input_depth % 4 == 0 && p->dilation_width == 1) {
    tfkd_conv2d_dsp(p, input, filter, bias, multiplier, shift, &o, output);
    return;
  }
  if (k4 <= TFKD_IM2COL_MAX) {
    tfkd_conv2d_im2col(p, input, filter, bias, multiplier, shift, &o, output);
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
            const int32_t tap = (filter_y * p->filter_width + filter_x) * p->input_depth;
            const int8_t *in;
            if (in_x < 0 || in_x >= p->input_width) continue;
            in = input + (in_y * p->input_width + in_x) * p->input_depth;
            for (in_c = 0; in_c < p->input_depth; ++in_c) {
              acc += (int32_t)filter[tfkd_paired_index(out_c, tap + in_c, k4)] * ((int32_t)in[in_c] + p->input_offset);
            }
          }
        }
        if (bias) acc += bias[out_c];
        acc = (p->fast_requantize ? tfkd_requantize_fast(acc, multiplier[out_c], shift[out_c])
                                  : tfkd_requantize(acc, multiplier[out_c], shift[out_c])) + p->output_offset;
        output[(out_y * p->output_width + out_x) * p->output_depth + out_c] =
            tfkd_clamp(acc, p->activation_min, p->activation_max);
      }
    }
  }
}
