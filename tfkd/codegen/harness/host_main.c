/* Host test harness for generated models: reads whole inputs (raw values) from stdin, runs the
 * model on each and writes the raw outputs to stdout. The model is chosen at compile time:
 * -DTFKD_MODEL_HEADER="\"model.h\"" -DTFKD_INVOKE=model_invoke
 * -DTFKD_INPUT_SIZE=MODEL_INPUT_SIZE -DTFKD_OUTPUT_SIZE=MODEL_OUTPUT_SIZE, and for the float ends of a
 * float-I/O model -DTFKD_INVOKE=model_invoke_float -DTFKD_INPUT_T=float -DTFKD_OUTPUT_T=float. */
#include <stdint.h>
#include <stdio.h>

#include TFKD_MODEL_HEADER

#ifndef TFKD_INPUT_T
#define TFKD_INPUT_T int8_t
#endif
#ifndef TFKD_OUTPUT_T
#define TFKD_OUTPUT_T int8_t
#endif

int main(void) {
#ifdef TFKD_INPUT_IN_ARENA
  /* -DTFKD_INPUT_IN_ARENA=model_input: the input read straight into its place in the model's arena. */
  TFKD_INPUT_T *input = TFKD_INPUT_IN_ARENA();
#else
  static TFKD_INPUT_T input[TFKD_INPUT_SIZE];
#endif
  static TFKD_OUTPUT_T output[TFKD_OUTPUT_SIZE];
  while (fread(input, sizeof input[0], TFKD_INPUT_SIZE, stdin) == TFKD_INPUT_SIZE) {
    if (TFKD_INVOKE(input, output) != 0) return 1;
    if (fwrite(output, sizeof output[0], TFKD_OUTPUT_SIZE, stdout) != TFKD_OUTPUT_SIZE) return 1;
  }
  return ferror(stdin) ? 1 : 0;
}
