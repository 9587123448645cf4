/* PAD / PADV2, int8 (TFLite reference_ops::Pad). */
#include "tfkd_kernels.h"

void tfkd_pad(const tfkd_pad_params *p, const int8_t *input, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    const int32_t j0 = i0 - p->before[0];
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      const int32_t j1 = i1 - p->before[1];
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        const int32_t j2 = i2 - p->before[2];
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          const int32_t j3 = i3 - p->before[3];
          const int inside = j0 >= 0 && j0 < p->input_dims[0] && j1 >= 0 && j1 < p->input_dims[1] &&
                             j2 >= 0 && j2 < p->input_dims[2] && j3 >= 0 && j3 < p->input_dims[3];
          output[out++] = inside ? input[((j0 * p->input_dims[1] + j1) * p->input_dims[2] + j2) *
                                         p->input_dims[3] + j3]
                                 : (int8_t)p->pad_value;
        }
      }
    }
  }
}
