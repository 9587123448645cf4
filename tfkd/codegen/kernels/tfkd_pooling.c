/* MAX_POOL_2D and AVERAGE_POOL_2D, int8 (TFLite reference_integer_ops pooling).
 * Windows are clipped to the image: padding cells are neither compared nor counted. */
#include "tfkd_kernels.h"

void tfkd_max_pool(const tfkd_pool_params *p, const int8_t *input, int8_t *output) {
  int32_t out_y, out_x, c, y, x;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    const int32_t y_start = in_y_origin < 0 ? -in_y_origin : 0;
    const int32_t y_end = p->filter_height < p->input_height - in_y_origin ? p->filter_height
                                                                           : p->input_height - in_y_origin;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
      const int32_t x_start = in_x_origin < 0 ? -in_x_origin : 0;
      const int32_t x_end = p->filter_width < p->input_width - in_x_origin ? p->filter_width
                                                                           : p->input_width - in_x_origin;
      for (c = 0; c < p->depth; ++c) {
        int32_t max = -128;
        for (y = y_start; y < y_end; ++y) {
          for (x = x_start; x < x_end; ++x) {
            const int32_t v = input[((in_y_origin + y) * p->input_width + in_x_origin + x) * p->depth + c];
            if (v > max) max = v;
          }
        }
        output[(out_y * p->output_width + out_x) * p->depth + c] =
            tfkd_clamp(max, p->activation_min, p->activation_max);
      }
    }
  }
}

void tfkd_average_pool(const tfkd_pool_params *p, const int8_t *input, int8_t *output) {
  int32_t out_y, out_x, c, y, x;
  for (out_y = 0; out_y < p->output_height; ++out_y) {
    const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
    const int32_t y_start = in_y_origin < 0 ? -in_y_origin : 0;
    const int32_t y_end = p->filter_height < p->input_height - in_y_origin ? p->filter_height
                                                                           : p->input_height - in_y_origin;
    for (out_x = 0; out_x < p->output_width; ++out_x) {
      const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
      const int32_t x_start = in_x_origin < 0 ? -in_x_origin : 0;
      const int32_t x_end = p->filter_width < p->input_width - in_x_origin ? p->filter_width
                                                                           : p->input_width - in_x_origin;
      /* The code generator rejects windows that can fall wholly in the padding, so count > 0. */
      const int32_t count = (y_end - y_start) * (x_end - x_start);
      for (c = 0; c < p->depth; ++c) {
        int32_t sum = 0;
        for (y = y_start; y < y_end; ++y) {
          for (x = x_start; x < x_end; ++x) {
            sum += input[((in_y_origin + y) * p->input_width + in_x_origin + x) * p->depth + c];
          }
        }
        /* Round half away from zero, as the reference does, with C's truncating division. */
        sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        output[(out_y * p->output_width + out_x) * p->depth + c] =
            tfkd_clamp(sum, p->activation_min, p->activation_max);
      }
    }
  }
}
