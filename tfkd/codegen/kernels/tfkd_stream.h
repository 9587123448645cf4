/* Row streaming (tfkd/codegen/streaming.py): a chain of CONV_2D / DEPTHWISE_CONV_2D layers run one output row
 * at a time, each layer's output kept as a window of the rows its consumer still reads. */
#ifndef TFKD_STREAM_H_
#define TFKD_STREAM_H_

#include "tfkd_kernels.h"

#define TFKD_STREAM_MAX_LAYERS 8

typedef void (*tfkd_conv_kernel)(const tfkd_conv_params *p, const int8_t *input, const int8_t *filter,
                                 const int32_t *bias, const int32_t *multiplier, const int8_t *shift,
                                 int8_t *output);

typedef struct {
  tfkd_conv_kernel run;
  const tfkd_conv_params *params; /* the whole layer's, as when it runs alone */
  const int8_t *filter;
  const int32_t *bias, *multiplier;
  const int8_t *shift;
  int8_t *rows;     /* its output: a window of `capacity` rows; the last layer's whole output, or one row */
  int32_t capacity; /* rows `rows` holds */
} tfkd_stream_layer;

/* Runs `count` layers on `input` (layer 0's whole input). With `row_done`, the last layer writes each of its
 * rows into its one-row buffer and row_done(row, data) consumes it; without, it writes its whole output. */
void tfkd_stream(const tfkd_stream_layer *layers, int32_t count, const int8_t *input,
                 void (*row_done)(int32_t row, const int8_t *data));

#endif /* TFKD_STREAM_H_ */
