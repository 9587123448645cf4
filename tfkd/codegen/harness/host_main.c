/* Host test harness for generated models: reads whole inputs (raw int8) from stdin, runs the
 * model on each and writes the raw int8 outputs to stdout. The model is chosen at compile
 * time: -DTFKD_MODEL_HEADER="\"model.h\"" -DTFKD_INVOKE=model_invoke
 * -DTFKD_INPUT_SIZE=MODEL_INPUT_SIZE -DTFKD_OUTPUT_SIZE=MODEL_OUTPUT_SIZE */
#include <stdint.h>
#include <stdio.h>

#include TFKD_MODEL_HEADER

int main(void) {
  static int8_t input[TFKD_INPUT_SIZE];
  static int8_t output[TFKD_OUTPUT_SIZE];
  while (fread(input, 1, sizeof input, stdin) == sizeof input) {
    if (TFKD_INVOKE(input, output) != 0) return 1;
    if (fwrite(output, 1, sizeof output, stdout) != sizeof output) return 1;
  }
  return ferror(stdin) ? 1 : 0;
}
