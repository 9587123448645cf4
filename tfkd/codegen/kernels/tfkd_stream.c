/* The row-streaming driver: pulls rows through a chain of windowed layers (tfkd/codegen/streaming.py computes
 * the same order at generation time to size the windows and to plan the arena around it). Each call runs a
 * layer's own kernel on the band of input rows one output row reads, with the band's height and top padding,
 * so every output value is the one the kernel computes for the whole tensor. */
#include "tfkd_stream.h"

#include <string.h>

typedef struct {
  int32_t first; /* the layer's output row held at rows[0] */
  int32_t next;  /* the next output row to compute */
} tfkd_stream_state;

/* Input rows [*lo, *hi) that output row `row` reads, clipped to the image. */
static void tfkd_stream_band(const tfkd_conv_params *p, int32_t row, int32_t *lo, int32_t *hi) {
  const int32_t origin = row * p->stride_height - p->pad_height;
  const int32_t end = origin + (p->filter_height - 1) * p->dilation_height + 1;
  *lo = origin < 0 ? 0 : origin;
  *hi = end < p->input_height ? end : p->input_height;
}

static void tfkd_stream_row(const tfkd_stream_layer *layers, int32_t count, tfkd_stream_state *state, int32_t j,
                            const int8_t *input, void (*row_done)(int32_t, const int8_t *)) {
  const tfkd_stream_layer *layer = &layers[j];
  const tfkd_conv_params *p = layer->params;
  const int32_t row = state[j].next, in_row_bytes = p->input_width * p->input_depth;
  const int32_t out_row_bytes = p->output_width * p->output_depth;
  const int8_t *in;
  tfkd_conv_params band = *p;
  int32_t lo, hi;
  tfkd_stream_band(p, row, &lo, &hi);
  if (j == 0) {
    in = input + lo * in_row_bytes;
  } else {
    while (state[j - 1].next < hi) tfkd_stream_row(layers, count, state, j - 1, input, row_done);
    in = layers[j - 1].rows + (lo - state[j - 1].first) * in_row_bytes;
  }
  if (j + 1 < count && row - state[j].first == layer->capacity) {
    /* The window is full: drop the rows the consumer's current band has moved past. */
    int32_t keep, unused;
    tfkd_stream_band(layers[j + 1].params, state[j + 1].next, &keep, &unused);
    memmove(layer->rows, layer->rows + (keep - state[j].first) * out_row_bytes,
            (size_t)((row - keep) * out_row_bytes));
    state[j].first = keep;
  } else if (j + 1 == count && row_done) {
    state[j].first = row; /* one row, consumed before the next */
  }
  band.input_height = hi - lo;
  band.pad_height = lo - (row * p->stride_height - p->pad_height);
  band.output_height = 1;
  layer->run(&band, in, layer->filter, layer->bias, layer->multiplier, layer->shift,
             layer->rows + (row - state[j].first) * out_row_bytes);
  state[j].next = row + 1;
  if (j + 1 == count && row_done) row_done(row, layer->rows);
}

void tfkd_stream(const tfkd_stream_layer *layers, int32_t count, const int8_t *input,
                 void (*row_done)(int32_t row, const int8_t *data)) {
  tfkd_stream_state state[TFKD_STREAM_MAX_LAYERS];
  int32_t j;
  for (j = 0; j < count; ++j) state[j].first = state[j].next = 0;
  while (state[count - 1].next < layers[count - 1].params->output_height) {
    tfkd_stream_row(layers, count, state, count - 1, input, row_done);
  }
}
