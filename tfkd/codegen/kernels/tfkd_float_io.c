/* Float ends of a float-I/O model: TFLite's QUANTIZE (float32 -> int8, AffineQuantize) and DEQUANTIZE
 * (int8 -> float32, Dequantize), with their exact float steps and no libm. */
#include "tfkd_kernels.h"

/* Beyond +-512 every int8 zero point clamps the same way, and the truncation below stays exact. */
#define TFKD_QUANTIZE_LIMIT 512.0f

void tfkd_quantize_float(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    float q = input[i] / scale; /* float32 division, as TFLite Micro's float / static_cast<float>(scale) */
    int32_t whole;
    float fraction;
    if (!(q >= -TFKD_QUANTIZE_LIMIT)) q = -TFKD_QUANTIZE_LIMIT; /* also NaN */
    if (q > TFKD_QUANTIZE_LIMIT) q = TFKD_QUANTIZE_LIMIT;
    /* Round half away from zero (TfLiteRound, std::round): truncate, then look at the exact remainder. */
    whole = (int32_t)q;
    fraction = q - (float)whole;
    if (fraction >= 0.5f) ++whole;
    if (fraction <= -0.5f) --whole;
    output[i] = tfkd_clamp(whole + zero_point, -128, 127);
  }
}

void tfkd_dequantize(const int8_t *input, int32_t size, float scale, int32_t zero_point, float *output) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    /* TFLite Micro multiplies by the scale widened to double, then narrows the product to float. */
    output[i] = (float)((double)scale * (double)(input[i] - zero_point));
  }
}
