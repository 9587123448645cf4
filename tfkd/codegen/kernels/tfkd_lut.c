/* Element-wise int8 operators as a 256-entry table look-up (LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU,
 * HARD_SWISH, int8 QUANTIZE); the tables are computed at generation time (tfkd/codegen/tables.py). */
#include "tfkd_kernels.h"

void tfkd_lut(const tfkd_lut_params *p, const int8_t *input, const int8_t *table, int8_t *output) {
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = table[input[i] + 128];
}
