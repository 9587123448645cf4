/* DEPTHWISE_CONV_2D, int8 per-channel (TFLite reference_integer_ops::DepthwiseConvPerChannel).
 * The filter is as in the .tflite file: filter[filter_y][filter_x][output channel]. */
#include "tfkd_kernels.h"

/* The reference, pixel by pixel, for the input channels from c_begin (with their depth_multiplier output
 * channels each). */
static void tfkd_dw_plain(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                          const int32_t *multiplier, const int8_t *shift, int8_t *output, int32_t c_begin) {
  int32_t out_y, out_x, in_c, m, filter_y, filter_x;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
      for (in_c = c_begin; in_c < p->input_depth; ++in_c) {
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

/* The inline assembly blocks need the optimiser's register allocation (no registers to spare at -O0). */
#if defined(__ARM_FEATURE_DSP) && (defined(__OPTIMIZE__) || defined(TFKD_NO_INLINE_ASM))
#define TFKD_DW_DSP 1
#endif

#if defined(TFKD_DW_DSP)
/* Cortex-M4 path (depth multiplier 1, undilated width; with TFKD_NO_INLINE_ASM its multi-instruction
 * assembly blocks are C). Four channels per pass: a tap is one word of input and one of weights, unpacked
 * to 16-bit halves (SXTAB16 adds the input offset on the way) and multiplied with SMLABB/SMLATT into four
 * accumulators: the same int32 sums as the plain C path. The output stage works on the four channels at
 * once: requantised values saturated to int8 (SSAT), packed into one word, clamped to the activation range
 * with byte-wise SSUB8/SEL and stored with one (unaligned) store. */

/* acc[0..3] += the products of one tap: four channels' input word (plus the offset pair xo) and weight
 * word, unpacked to the halves (c0, c2) and (c1, c3). */
#define TFKD_DW_TAP(xv, wv)                                                   \
  do {                                                                        \
    const uint32_t xe_ = tfkd_sxtab16(xo, xv), xd_ = tfkd_sxtab16_ror8(xo, xv); \
    const uint32_t we_ = tfkd_sxtb16(wv), wd_ = tfkd_sxtb16_ror8(wv);         \
    a0 = tfkd_smlabb(xe_, we_, a0); a2 = tfkd_smlatt(xe_, we_, a2);          \
    a1 = tfkd_smlabb(xd_, wd_, a1); a3 = tfkd_smlatt(xd_, wd_, a3);          \
  } while (0)

#if defined(TFKD_NO_INLINE_ASM)
/* The C versions of the inline assembly blocks below (same arguments, same sums): a window of rows x cols
 * taps, its rows steps[0] (input) and steps[1] (weights) apart. */
static inline void tfkd_dw_taps(const int8_t *in, const int8_t *w, int32_t depth, const int32_t *steps, int32_t rows,
                                int32_t cols, uint32_t xo, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], fy, k;
  for (fy = 0; fy < rows; ++fy, in += steps[0], w += steps[1]) {
    for (k = 0; k < cols; ++k) TFKD_DW_TAP(tfkd_read4(in + k * depth), tfkd_read4(w + k * depth));
  }
  acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

static inline void tfkd_dw_row(const int8_t *in, const int8_t *w, int32_t depth, int32_t cols, uint32_t xo,
                               int32_t *acc0, int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  static const int32_t no_steps[2] = {0, 0};
  int32_t a[4];
  a[0] = *acc0; a[1] = *acc1; a[2] = *acc2; a[3] = *acc3;
  tfkd_dw_taps(in, w, depth, no_steps, 1, cols, xo, a);
  *acc0 = a[0]; *acc1 = a[1]; *acc2 = a[2]; *acc3 = a[3];
}

static inline void tfkd_dw_row3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2, uint32_t xo,
                                int32_t *acc0, int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  (void)depth2;
  tfkd_dw_row(in, w, depth, 3, xo, acc0, acc1, acc2, acc3);
}

static inline void tfkd_dw_row2(const int8_t *in, const int8_t *w, int32_t depth, uint32_t xo, int32_t *acc0,
                                int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  tfkd_dw_row(in, w, depth, 2, xo, acc0, acc1, acc2, acc3);
}

static inline void tfkd_dw_window3x3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2,
                                     const int32_t *steps, uint32_t xo, int32_t *acc0,
                                     int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  int32_t a[4];
  (void)depth2;
  a[0] = *acc0; a[1] = *acc1; a[2] = *acc2; a[3] = *acc3;
  tfkd_dw_taps(in, w, depth, steps, 3, 3, xo, a);
  *acc0 = a[0]; *acc1 = a[1]; *acc2 = a[2]; *acc3 = a[3];
}

static inline void tfkd_dw_window3x2(const int8_t *in, const int8_t *w, int32_t depth, const int32_t *steps,
                                     uint32_t xo, int32_t *acc) {
  tfkd_dw_taps(in, w, depth, steps, 3, 2, xo, acc);
}

static inline void tfkd_dw_window2x3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2,
                                     const int32_t *steps, uint32_t xo, int32_t *acc) {
  (void)depth2;
  tfkd_dw_taps(in, w, depth, steps, 2, 3, xo, acc);
}
#else
/* TFKD_DW_TAP for the three taps of a filter row at in, in + depth, in + 2 * depth (weights alike).
 * Inline assembly so that the 4 accumulators, 2 pointers, 2 strides, the offset pair and 4 temporaries
 * stay in registers: gcc -O2 spilled around the unrolled C version (45 instructions a row, 30 here). */
static inline void tfkd_dw_row3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2, uint32_t xo,
                                int32_t *acc0, int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  int32_t a0 = *acc0, a1 = *acc1, a2 = *acc2, a3 = *acc3;
  uint32_t xv, xe, wv, we;
#define TFKD_DW_TAP_ASM(offset)                     \
  "ldr %[xv], [%[in]" offset "]\n\t"                \
  "ldr %[wv], [%[w]" offset "]\n\t"                 \
  "sxtab16 %[xe], %[xo], %[xv]\n\t"                 \
  "sxtab16 %[xv], %[xo], %[xv], ror #8\n\t"         \
  "sxtb16 %[we], %[wv]\n\t"                         \
  "sxtb16 %[wv], %[wv], ror #8\n\t"                 \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"           \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"           \
  "smlabb %[a1], %[xv], %[wv], %[a1]\n\t"           \
  "smlatt %[a3], %[xv], %[wv], %[a3]\n\t"
  __asm__(TFKD_DW_TAP_ASM("") TFKD_DW_TAP_ASM(", %[d]") TFKD_DW_TAP_ASM(", %[d2]")
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
            [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [in] "r"(in), [w] "r"(w), [d] "r"(depth), [d2] "r"(depth2), [xo] "r"(xo)
          : "memory");
  *acc0 = a0; *acc1 = a1; *acc2 = a2; *acc3 = a3;
}

/* The same for two taps, at in and in + depth (3x3 windows cut by the left or right border). */
static inline void tfkd_dw_row2(const int8_t *in, const int8_t *w, int32_t depth, uint32_t xo, int32_t *acc0,
                                int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  int32_t a0 = *acc0, a1 = *acc1, a2 = *acc2, a3 = *acc3;
  uint32_t xv, xe, wv, we;
  __asm__(TFKD_DW_TAP_ASM("") TFKD_DW_TAP_ASM(", %[d]")
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
            [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [in] "r"(in), [w] "r"(w), [d] "r"(depth), [xo] "r"(xo)
          : "memory");
  *acc0 = a0; *acc1 = a1; *acc2 = a2; *acc3 = a3;
}

/* tfkd_dw_row3 for the three rows of a 3x3 window inside the image, in one block: between rows the
 * pointers advance by steps[0] (input) and steps[1] (weights), read from memory into a free temporary (no register is left
 * for them), 4 instructions a row instead of a loop around the block. */
static inline void tfkd_dw_window3x3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2,
                                     const int32_t *steps, uint32_t xo, int32_t *acc0,
                                     int32_t *acc1, int32_t *acc2, int32_t *acc3) {
  int32_t a0 = *acc0, a1 = *acc1, a2 = *acc2, a3 = *acc3;
  uint32_t xv, xe, wv, we;
#define TFKD_DW_ROW_ASM TFKD_DW_TAP_ASM("") TFKD_DW_TAP_ASM(", %[d]") TFKD_DW_TAP_ASM(", %[d2]")
#define TFKD_DW_NEXT_ROW_ASM                          \
  "ldr %[we], %[in_step]\n\t"                         \
  "add %[in], %[in], %[we]\n\t"                       \
  "ldr %[we], %[w_step]\n\t"                          \
  "add %[w], %[w], %[we]\n\t"
  __asm__(TFKD_DW_ROW_ASM TFKD_DW_NEXT_ROW_ASM TFKD_DW_ROW_ASM TFKD_DW_NEXT_ROW_ASM TFKD_DW_ROW_ASM
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [in] "+r"(in), [w] "+r"(w),
            [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [d] "r"(depth), [d2] "r"(depth2), [xo] "r"(xo), [in_step] "m"(steps[0]), [w_step] "m"(steps[1])
          : "memory");
  *acc0 = a0; *acc1 = a1; *acc2 = a2; *acc3 = a3;
}

/* The windows cut by one border of the image, as tfkd_dw_window3x3: three rows of two taps (left or
 * right border) or two rows of three taps (top or bottom border). */
static inline void tfkd_dw_window3x2(const int8_t *in, const int8_t *w, int32_t depth, const int32_t *steps,
                                     uint32_t xo, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  uint32_t xv, xe, wv, we;
#define TFKD_DW_ROW2_ASM TFKD_DW_TAP_ASM("") TFKD_DW_TAP_ASM(", %[d]")
  __asm__(TFKD_DW_ROW2_ASM TFKD_DW_NEXT_ROW_ASM TFKD_DW_ROW2_ASM TFKD_DW_NEXT_ROW_ASM TFKD_DW_ROW2_ASM
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [in] "+r"(in), [w] "+r"(w),
            [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [d] "r"(depth), [xo] "r"(xo), [in_step] "m"(steps[0]), [w_step] "m"(steps[1])
          : "memory");
#undef TFKD_DW_ROW2_ASM
  acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

static inline void tfkd_dw_window2x3(const int8_t *in, const int8_t *w, int32_t depth, int32_t depth2,
                                     const int32_t *steps, uint32_t xo, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  uint32_t xv, xe, wv, we;
  __asm__(TFKD_DW_ROW_ASM TFKD_DW_NEXT_ROW_ASM TFKD_DW_ROW_ASM
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [in] "+r"(in), [w] "+r"(w),
            [xv] "=&r"(xv), [xe] "=&r"(xe), [wv] "=&r"(wv), [we] "=&r"(we)
          : [d] "r"(depth), [d2] "r"(depth2), [xo] "r"(xo), [in_step] "m"(steps[0]), [w_step] "m"(steps[1])
          : "memory");
  acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}
#undef TFKD_DW_ROW_ASM
#undef TFKD_DW_NEXT_ROW_ASM
#undef TFKD_DW_TAP_ASM
#endif

/* What the interior pixels of one channel group of four share (3x3 filters, fast requantisation), set up
 * once per group and layer: the table of tfkd_dw_pair3x3 with its starting sums, the bias, and
 * tfkd_requantize_doubled's constants (multiplier, rounding addend, right shift less one). The table's weights
 * and starting sums are doubled, so that the pairs' sums come out as the 2 acc the requantisation takes
 * (int8 weights doubled stay within int16; |2 acc| < 2^31 by the fast requantisation's proof, and the
 * partial sums wrap as the final one does not). */
typedef struct {
  int32_t table[36];
  int32_t start[4], bias[4], multiplier_round[8], rs1[4];
  uint32_t xo, low4, high4;
} tfkd_dw_group;

static void tfkd_dw_setup(const tfkd_conv_params *p, const int8_t *filter, const int32_t *bias,
                          const int32_t *multiplier, const int8_t *shift, int32_t c, tfkd_dw_group *g) {
  const int32_t depth = p->input_depth;
  const int32_t offset_round = 2 * p->output_offset + 1;
  uint32_t sum_even = 0, sum_odd = 0; /* per-channel weight sums, (c0, c2) and (c1, c3), int16 lanes */
  int32_t j, k;
  g->xo = tfkd_offset_pair(p->input_offset);
  g->low4 = 0x01010101u * ((uint32_t)p->activation_min & 0xFFu);
  g->high4 = 0x01010101u * ((uint32_t)p->activation_max & 0xFFu);
  for (k = 0; k < 9; ++k) {
    const uint32_t wv = tfkd_read4(filter + k * depth + c);
    const uint32_t we = tfkd_sxtb16(wv), wd = tfkd_sxtb16_ror8(wv);
    g->table[4 * k] = (k / 3) * p->dilation_height * p->input_width * depth + (k % 3) * depth;
    g->table[4 * k + 1] = g->table[4 * k] + p->stride_width * depth;
    g->table[4 * k + 2] = (int32_t)(((we << 1) & 0xFFFEu) | (we >> 16) << 17);
    g->table[4 * k + 3] = (int32_t)(((wd << 1) & 0xFFFEu) | (wd >> 16) << 17);
    /* Lane-wise sums of at most nine int8 values stay within int16: no carry between lanes. */
    sum_even = (((sum_even & 0xFFFFu) + (we & 0xFFFFu)) & 0xFFFFu) | ((sum_even >> 16) + (we >> 16)) << 16;
    sum_odd = (((sum_odd & 0xFFFFu) + (wd & 0xFFFFu)) & 0xFFFFu) | ((sum_odd >> 16) + (wd >> 16)) << 16;
  }
  for (j = 0; j < 4; ++j) {
    const uint32_t sums = (j & 1) ? sum_odd : sum_even;
    g->bias[j] = bias ? bias[c + j] : 0;
    g->start[j] = (int32_t)((uint32_t)(g->bias[j] + p->input_offset * (int16_t)((j & 2) ? sums >> 16 : sums & 0xFFFFu)) << 1);
    g->rs1[j] = ~shift[c + j];
    g->multiplier_round[2 * j] = multiplier[c + j];
    g->multiplier_round[2 * j + 1] = offset_round << g->rs1[j];
  }
}

/* Four channels' sums times scale (1: sums already doubled, 2) through the fast requantisation
 * (tfkd_requantize_doubled, then SSAT), packed, clamped and stored as one word. */
static inline void tfkd_dw_store4(const tfkd_dw_group *g, int8_t *out, const int32_t *a, int32_t scale) {
  const int32_t *m = g->multiplier_round, *rs1 = g->rs1;
  const int32_t v0 = tfkd_ssat8_half(tfkd_requantize_doubled(a[0] * scale, m[0], m[1], rs1[0]));
  const int32_t v1 = tfkd_ssat8_half(tfkd_requantize_doubled(a[1] * scale, m[2], m[3], rs1[1]));
  const int32_t v2 = tfkd_ssat8_half(tfkd_requantize_doubled(a[2] * scale, m[4], m[5], rs1[2]));
  const int32_t v3 = tfkd_ssat8_half(tfkd_requantize_doubled(a[3] * scale, m[6], m[7], rs1[3]));
  /* Saturating to int8 first changes nothing: the activation range lies within int8. */
  *(tfkd_unaligned_u32 *)out = tfkd_clamp4(tfkd_pack4(v0, v1, v2, v3), g->low4, g->high4);
}

/* Row out_y (filter rows [fy_start, fy_end) inside the input), any windows, pixel by pixel, the groups of
 * four channels inside: where there are few pixels a group, set-up per pixel costs less than per group. */
static void tfkd_dw_pixels(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                           const int32_t *multiplier, const int8_t *shift, int8_t *output, int32_t fast,
                           int32_t out_y, int32_t fy_start, int32_t fy_end) {
  const int32_t depth = p->input_depth, groups = depth & ~3, width = p->input_width;
  const int32_t fw = p->filter_width;
  const uint32_t xo = tfkd_offset_pair(p->input_offset);
  const uint32_t low4 = 0x01010101u * ((uint32_t)p->activation_min & 0xFFu);
  const uint32_t high4 = 0x01010101u * ((uint32_t)p->activation_max & 0xFFu);
  const int32_t offset_round = 2 * p->output_offset + 1;
  const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
  int32_t out_x, c, fy, k;
  for (out_x = 0; out_x < p->output_width; ++out_x) {
    /* The filter columns [fx_start, fx_end) inside the input. */
    const int32_t x0 = out_x * p->stride_width - p->pad_width;
    const int32_t fx_start = x0 < 0 ? -x0 : 0;
    const int32_t fx_end = width - x0 < fw ? width - x0 : fw;
    const int32_t cols = fx_end > fx_start ? fx_end - fx_start : 0;
    const int32_t rows = cols ? fy_end - fy_start : 0;
    const int32_t row_step = p->dilation_height * width * depth;
    const int32_t steps[2] = {row_step, fw * depth};
    const int8_t *in_base = input + ((in_y_origin + p->dilation_height * fy_start) * width + x0 + fx_start) * depth;
    const int32_t first_tap = fy_start * fw + fx_start;
    int8_t *out = output + (out_y * p->output_width + out_x) * depth;
    for (c = 0; c < groups; c += 4) {
      const int8_t *in_row = in_base + c, *w_row = filter + first_tap * depth + c;
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      if (bias) { a0 = bias[c]; a1 = bias[c + 1]; a2 = bias[c + 2]; a3 = bias[c + 3]; }
      if ((cols == 2 && rows == 3) || (cols == 3 && rows == 2)) {
        /* A 3x3 window cut by one border: no loop over its rows. */
        int32_t a[4];
        a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
        if (cols == 2) {
          tfkd_dw_window3x2(in_row, w_row, depth, steps, xo, a);
        } else {
          tfkd_dw_window2x3(in_row, w_row, depth, 2 * depth, steps, xo, a);
        }
        a0 = a[0]; a1 = a[1]; a2 = a[2]; a3 = a[3];
      } else if (cols == 3) {
        const int32_t depth2 = 2 * depth, w_step = fw * depth;
        for (fy = 0; fy < rows; ++fy) {
          tfkd_dw_row3(in_row, w_row, depth, depth2, xo, &a0, &a1, &a2, &a3);
          in_row += row_step; w_row += w_step;
        }
      } else if (cols == 2) {
        for (fy = 0; fy < rows; ++fy) {
          tfkd_dw_row2(in_row, w_row, depth, xo, &a0, &a1, &a2, &a3);
          in_row += row_step; w_row += fw * depth;
        }
      } else {
        for (fy = 0; fy < rows; ++fy) {
          const int8_t *in = in_row, *w = w_row;
          for (k = 0; k < cols; ++k) {
            TFKD_DW_TAP(tfkd_read4(in), tfkd_read4(w));
            in += depth; w += depth;
          }
          in_row += row_step; w_row += fw * depth;
        }
      }
      if (fast) {
        const int32_t r0 = ~shift[c], r1 = ~shift[c + 1], r2 = ~shift[c + 2], r3 = ~shift[c + 3];
        a0 = tfkd_ssat8_half(tfkd_requantize_doubled(a0 * 2, multiplier[c], offset_round << r0, r0));
        a1 = tfkd_ssat8_half(tfkd_requantize_doubled(a1 * 2, multiplier[c + 1], offset_round << r1, r1));
        a2 = tfkd_ssat8_half(tfkd_requantize_doubled(a2 * 2, multiplier[c + 2], offset_round << r2, r2));
        a3 = tfkd_ssat8_half(tfkd_requantize_doubled(a3 * 2, multiplier[c + 3], offset_round << r3, r3));
      } else {
        a0 = tfkd_ssat8(tfkd_requantize(a0, multiplier[c], shift[c]) + p->output_offset);
        a1 = tfkd_ssat8(tfkd_requantize(a1, multiplier[c + 1], shift[c + 1]) + p->output_offset);
        a2 = tfkd_ssat8(tfkd_requantize(a2, multiplier[c + 2], shift[c + 2]) + p->output_offset);
        a3 = tfkd_ssat8(tfkd_requantize(a3, multiplier[c + 3], shift[c + 3]) + p->output_offset);
      }
      /* Saturating to int8 first changes nothing: the activation range lies within int8. */
      *(tfkd_unaligned_u32 *)(out + c) = tfkd_clamp4(tfkd_pack4(a0, a1, a2, a3), low4, high4);
    }
  }
}

#if defined(TFKD_NO_INLINE_ASM)
/* The C version of tfkd_dw_pair3x3 below. */
static inline void tfkd_dw_pair3x3(const int8_t *in, const int32_t *tbl, int32_t *a) {
  int32_t k, j;
  for (k = 0; k < 9; ++k, tbl += 4) {
    for (j = 0; j < 2; ++j) {
      const uint32_t x = tfkd_read4(in + tbl[j]), we = (uint32_t)tbl[2], wd = (uint32_t)tbl[3];
      int32_t *b = a + 4 * j;
      b[0] = tfkd_smlabb(tfkd_sxtb16(x), we, b[0]); b[2] = tfkd_smlatt(tfkd_sxtb16(x), we, b[2]);
      b[1] = tfkd_smlabb(tfkd_sxtb16_ror8(x), wd, b[1]); b[3] = tfkd_smlatt(tfkd_sxtb16_ror8(x), wd, b[3]);
    }
  }
}
#else
/* One tap of tfkd_dw_pair3x3: entry k of the table holds the tap's input offset for each of the two
 * pixels and the tap's weights of four channels unpacked, (c0, c2) and (c1, c3). */
#define TFKD_DW_PAIR_TAP(off0, off1, we, wd)              \
  "ldr %[t], [%[tbl], #" off0 "]\n\t"                     \
  "ldr %[x0], [%[in], %[t]]\n\t"                          \
  "ldr %[t], [%[tbl], #" off1 "]\n\t"                     \
  "ldr %[x1], [%[in], %[t]]\n\t"                          \
  "ldr %[w], [%[tbl], #" we "]\n\t"                       \
  "sxtb16 %[t], %[x0]\n\t"                                \
  "sxtb16 %[x0], %[x0], ror #8\n\t"                       \
  "smlabb %[a0], %[t], %[w], %[a0]\n\t"                   \
  "smlatt %[a2], %[t], %[w], %[a2]\n\t"                   \
  "sxtb16 %[t], %[x1]\n\t"                                \
  "sxtb16 %[x1], %[x1], ror #8\n\t"                       \
  "smlabb %[b0], %[t], %[w], %[b0]\n\t"                   \
  "smlatt %[b2], %[t], %[w], %[b2]\n\t"                   \
  "ldr %[w], [%[tbl], #" wd "]\n\t"                       \
  "smlabb %[a1], %[x0], %[w], %[a1]\n\t"                  \
  "smlatt %[a3], %[x0], %[w], %[a3]\n\t"                  \
  "smlabb %[b1], %[x1], %[w], %[b1]\n\t"                  \
  "smlatt %[b3], %[x1], %[w], %[b3]\n\t"

#define TFKD_DW_PAIRS \
  TFKD_DW_PAIR_TAP("0", "4", "8", "12") \
  TFKD_DW_PAIR_TAP("16", "20", "24", "28") \
  TFKD_DW_PAIR_TAP("32", "36", "40", "44") \
  TFKD_DW_PAIR_TAP("48", "52", "56", "60") \
  TFKD_DW_PAIR_TAP("64", "68", "72", "76") \
  TFKD_DW_PAIR_TAP("80", "84", "88", "92") \
  TFKD_DW_PAIR_TAP("96", "100", "104", "108") \
  TFKD_DW_PAIR_TAP("112", "116", "120", "124") \
  TFKD_DW_PAIR_TAP("128", "132", "136", "140")

/* A 3x3 window of four channels for two output pixels at once: a[0..3] for the pixel at in + table
 * offset 0, a[4..7] for the other. The two pixels share each tap's unpacked weights (read from the
 * table, unpacked once per channel group rather than once per pixel), and the inputs are unpacked
 * without the input offset (SXTB16): the caller starts the sums from bias + input_offset * (sum of the
 * channel's nine weights), which gives the same int32 sums (doubled with tfkd_dw_group's table). 8
 * accumulators, the input and table pointers and 4 temporaries are the 14 registers there are; per tap
 * (8 MACs) 18 instructions. */
static inline void tfkd_dw_pair3x3(const int8_t *in, const int32_t *tbl, int32_t *a) {
  int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = a[4], b1 = a[5], b2 = a[6], b3 = a[7];
  uint32_t t, x0, x1, w;
  __asm__(TFKD_DW_PAIRS
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
            [b0] "+r"(b0), [b1] "+r"(b1), [b2] "+r"(b2), [b3] "+r"(b3),
            [t] "=&r"(t), [x0] "=&r"(x0), [x1] "=&r"(x1), [w] "=&r"(w)
          : [in] "r"(in), [tbl] "r"(tbl)
          : "memory");
  a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3; a[4] = b0; a[5] = b1; a[6] = b2; a[7] = b3;
}
#undef TFKD_DW_PAIRS
#undef TFKD_DW_PAIR_TAP
#endif

/* Rows [y_lo, y_hi) of a 3x3 layer, whose windows there are all three rows tall, channels c..c + 3 (fast
 * requantisation; row: the first one's window's first input row, out: its output row, both at channel c),
 * in order. In each row the pixels [x_lo, x_hi), whose windows lie wholly inside the input, two at a time
 * through tfkd_dw_pair3x3 and a last odd one through tfkd_dw_window3x3; the pixels before x_lo and from x_hi
 * on (the caller allows at most one on each side, its window cut to two columns) through tfkd_dw_window3x2. */
static void tfkd_dw_rows3x3(const tfkd_conv_params *p, const tfkd_dw_group *g, const int8_t *row,
                            const int8_t *filter, int8_t *out, int32_t x_lo, int32_t x_hi, int32_t y_lo,
                            int32_t y_hi) {
  const int32_t depth = p->input_depth, pixel_step = p->stride_width * depth;
  const int32_t steps[2] = {p->dilation_height * p->input_width * depth, 3 * depth};
  const int32_t in_row_step = p->stride_height * p->input_width * depth, out_row_step = p->output_width * depth;
  const int32_t right = x_hi < p->output_width;
  int32_t y;
  for (y = y_lo; y < y_hi; ++y, row += in_row_step, out += out_row_step) {
    const int8_t *in = row + (x_lo * p->stride_width - p->pad_width) * depth;
    int8_t *o = out;
    int32_t acc[8], x;
    if (x_lo) {
      acc[0] = g->bias[0]; acc[1] = g->bias[1]; acc[2] = g->bias[2]; acc[3] = g->bias[3];
      tfkd_dw_window3x2(row, filter + depth, depth, steps, g->xo, acc);
      tfkd_dw_store4(g, o, acc, 2);
    }
    o += x_lo * depth;
    for (x = x_lo; x + 1 < x_hi; x += 2) {
      acc[0] = acc[4] = g->start[0]; acc[1] = acc[5] = g->start[1];
      acc[2] = acc[6] = g->start[2]; acc[3] = acc[7] = g->start[3];
      tfkd_dw_pair3x3(in, g->table, acc);
      tfkd_dw_store4(g, o, acc, 1);
      tfkd_dw_store4(g, o + depth, acc + 4, 1);
      in += 2 * pixel_step; o += 2 * depth;
    }
    if (x < x_hi) {
      acc[0] = g->bias[0]; acc[1] = g->bias[1]; acc[2] = g->bias[2]; acc[3] = g->bias[3];
      tfkd_dw_window3x3(in, filter, depth, 2 * depth, steps, g->xo, &acc[0], &acc[1], &acc[2], &acc[3]);
      tfkd_dw_store4(g, o, acc, 2);
      in += pixel_step; o += depth;
    }
    if (right) {
      acc[0] = g->bias[0]; acc[1] = g->bias[1]; acc[2] = g->bias[2]; acc[3] = g->bias[3];
      tfkd_dw_window3x2(in, filter, depth, steps, g->xo, acc);
      tfkd_dw_store4(g, o, acc, 2);
    }
  }
}

/* Each channel's pixels in row-major order, one finished before the next: an output placed whole pixels
 * below its input (tfkd/codegen/overlap.py) only writes a byte of channel c over an input byte of channel c,
 * which channel c has finished reading, so the channels need not keep pace. The rows above and below the
 * interior go pixel by pixel (every group of a pixel, then the next pixel), the interior rows channel group
 * by channel group (tfkd_dw_rows3x3), the channels past the last group of four through the plain path. */
static void tfkd_depthwise_conv2d_dsp(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                                      const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                                      int8_t *output) {
  const int32_t depth = p->input_depth, width = p->input_width, fw = p->filter_width;
  const int32_t stride = p->stride_width, pad = p->pad_width, out_w = p->output_width;
  /* Interior columns: the window [x * stride - pad, + fw) lies inside [0, width). */
  const int32_t x_lo_raw = (pad + stride - 1) / stride;
  const int32_t x_hi_raw = width - fw + pad >= 0 ? (width - fw + pad) / stride + 1 : 0;
  const int32_t x_lo = x_lo_raw < out_w ? x_lo_raw : out_w;
  const int32_t x_hi = x_hi_raw < x_lo ? x_lo : (x_hi_raw < out_w ? x_hi_raw : out_w);
  /* Interior rows [y_lo, y_hi): the window's three rows lie inside the input. */
  const int32_t out_h = p->output_height, y_span = p->input_height - 1 - 2 * p->dilation_height + p->pad_height;
  const int32_t y_lo_raw = (p->pad_height + p->stride_height - 1) / p->stride_height;
  const int32_t y_hi_raw = y_span >= 0 ? y_span / p->stride_height + 1 : 0;
  int32_t y_lo = y_lo_raw < out_h ? y_lo_raw : out_h;
  int32_t y_hi = y_hi_raw < y_lo ? y_lo : (y_hi_raw < out_h ? y_hi_raw : out_h);
  int32_t fast = p->fast_requantize, out_y, c;
  tfkd_dw_group g;
  for (c = 0; c < depth; ++c) fast &= shift[c] >= -21; /* rs <= 21: the folded rounding fits (above) */
  /* The interior rows go channel group by channel group when tfkd_dw_rows3x3 can take their borders and a
   * row has a pair of interior pixels to pay for a group's set-up. */
  if (!(fast && fw == 3 && p->filter_height == 3 && x_hi - x_lo >= 2 && pad == x_lo && x_lo <= 1 &&
        (x_hi == out_w || (x_hi + 1 == out_w && width - (x_hi * stride - pad) == 2)))) {
    y_lo = y_hi = out_h;
  }
  for (out_y = 0; out_y < out_h; ++out_y) {
    int32_t fy_start, fy_end;
    if (out_y == y_lo && y_hi > y_lo) {
      for (c = 0; c + 4 <= depth; c += 4) {
        tfkd_dw_setup(p, filter, bias, multiplier, shift, c, &g);
        tfkd_dw_rows3x3(p, &g, input + (y_lo * p->stride_height - p->pad_height) * width * depth + c, filter + c,
                        output + y_lo * out_w * depth + c, x_lo, x_hi, y_lo, y_hi);
      }
      out_y = y_hi - 1;
      continue;
    }
    tfkd_rows_in_image(out_y * p->stride_height - p->pad_height, p->dilation_height, p->filter_height,
                       p->input_height, &fy_start, &fy_end);
    tfkd_dw_pixels(p, input, filter, bias, multiplier, shift, output, fast, out_y, fy_start, fy_end);
  }
  if (depth % 4) tfkd_dw_plain(p, input, filter, bias, multiplier, shift, output, depth & ~3);
}

/* Whether the channel-group order above is safe: the output does not overlap the input, or lies whole
 * pixels below it (addresses compared as integers: the two may be parts of one arena or distinct objects). */
static int32_t tfkd_dw_channels_apart(const tfkd_conv_params *p, const int8_t *input, const int8_t *output) {
  const uintptr_t in = (uintptr_t)input, out = (uintptr_t)output;
  const uintptr_t in_end = in + (uintptr_t)(p->input_height * p->input_width * p->input_depth);
  const uintptr_t out_end = out + (uintptr_t)(p->output_height * p->output_width * p->output_depth);
  return out_end <= in || out >= in_end || (out <= in && (in - out) % (uintptr_t)p->input_depth == 0);
}
#undef TFKD_DW_TAP
#endif

void tfkd_depthwise_conv2d(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                           int8_t *output) {
#if defined(TFKD_DW_DSP)
  if (p->depth_multiplier == 1 && p->dilation_width == 1 && tfkd_dw_channels_apart(p, input, output)) {
    tfkd_depthwise_conv2d_dsp(p, input, filter, bias, multiplier, shift, output);
    return;
  }
#endif
  tfkd_dw_plain(p, input, filter, bias, multiplier, shift, output, 0);
}
