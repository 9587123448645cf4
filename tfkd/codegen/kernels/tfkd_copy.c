/* Copies: one input of a CONCATENATION, and STRIDED_SLICE (int8, values unchanged). */
#include "tfkd_kernels.h"

void tfkd_copy(const tfkd_copy_params *p, const int8_t *input, int8_t *output) {
  int32_t row, i;
  for (row = 0; row < p->rows; ++row) {
    for (i = 0; i < p->row_size; ++i) {
      output[row * p->output_row_size + p->output_offset + i] = input[row * p->row_size + i];
    }
  }
}

void tfkd_strided_slice(const tfkd_slice_params *p, const int8_t *input, int8_t *output) {
  int32_t i0, i1, i2, i3;
  int32_t out = 0;
  for (i0 = 0; i0 < p->output_dims[0]; ++i0) {
    const int32_t o0 = (p->start[0] + i0 * p->step[0]) * p->input_strides[0];
    for (i1 = 0; i1 < p->output_dims[1]; ++i1) {
      const int32_t o1 = o0 + (p->start[1] + i1 * p->step[1]) * p->input_strides[1];
      for (i2 = 0; i2 < p->output_dims[2]; ++i2) {
        const int32_t o2 = o1 + (p->start[2] + i2 * p->step[2]) * p->input_strides[2];
        for (i3 = 0; i3 < p->output_dims[3]; ++i3) {
          output[out++] = input[o2 + (p->start[3] + i3 * p->step[3]) * p->input_strides[3]];
        }
      }
    }
  }
}
