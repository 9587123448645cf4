/* Cortex-M4 harness for generated models: runs the model on the samples embedded by
 * samples.h and prints, through semihosting, each output and what inference cost.
 *
 *   out <index> <output bytes as two's-complement hex>
 *   stack <bytes of stack that the deepest model_invoke call used>
 *   ticks <SysTick ticks summed over all inferences> samples <count>
 *   calibration <SysTick ticks for 2000000 instructions>
 *
 * Instruction counts come from QEMU's -icount mode, where virtual time advances with every
 * executed instruction: SysTick (processor clock) then counts instructions in fixed steps,
 * and the calibration loop of known length converts ticks into instructions.
 * Model selection at compile time: see TFKD_MODEL_HEADER / TFKD_INVOKE in tfkd/codegen/host.py. */
#include <stdint.h>

#include TFKD_MODEL_HEADER
#include "samples.h"
#include "semihosting.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYSTICK_MASK 0x00FFFFFFu
#define STACK_PAINT 0xDEADBEEFu
#define CALIBRATION_ITERATIONS 1000000u

extern uint32_t __stack_limit;

static char *append_text(char *out, const char *text) {
  while (*text) *out++ = *text++;
  return out;
}

static char *append_unsigned(char *out, uint32_t value) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value);
  while (n) *out++ = digits[--n];
  return out;
}

static char *append_hex_byte(char *out, uint8_t value) {
  static const char hex[] = "0123456789abcdef";
  *out++ = hex[value >> 4];
  *out++ = hex[value & 15u];
  return out;
}

static void print_pair(const char *key, uint32_t value, const char *key2, uint32_t value2) {
  char line[64];
  char *end = append_unsigned(append_text(append_text(line, key), " "), value);
  if (key2) end = append_unsigned(append_text(append_text(append_text(end, " "), key2), " "), value2);
  end = append_text(end, "\n");
  *end = '\0';
  tfkd_print(line);
}

/* Exactly two instructions (subs, bne) per iteration. */
static void __attribute__((noinline)) spin(uint32_t iterations) {
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

static uint32_t elapsed(uint32_t start, uint32_t stop) { return (start - stop) & SYSTICK_MASK; }

int main(void) {
  static int8_t output[TFKD_OUTPUT_SIZE];
  static char line[24 + 2 * TFKD_OUTPUT_SIZE];
  uint32_t total_ticks = 0, deepest = 0, start, stop, i, k;
  uint32_t *sp, *p;

  SYST_RVR = SYSTICK_MASK; /* free-running 24-bit down counter on the processor clock */
  SYST_CVR = 0;
  SYST_CSR = 5u; /* enable, processor clock, no interrupt */

  start = SYST_CVR;
  spin(CALIBRATION_ITERATIONS);
  stop = SYST_CVR;
  print_pair("calibration", elapsed(start, stop), 0, 0);

  for (i = 0; i < TFKD_SAMPLE_COUNT; ++i) {
    /* Paint the free stack below this frame; what the call overwrites is what it used. */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (p = &__stack_limit; p < sp; ++p) *p = STACK_PAINT;
    start = SYST_CVR;
    if (TFKD_INVOKE(tfkd_samples[i], output) != 0) return 1;
    stop = SYST_CVR;
    total_ticks += elapsed(start, stop);
    for (p = &__stack_limit; p < sp && *p == STACK_PAINT; ++p) {
    }
    if ((uint32_t)(sp - p) * 4u > deepest) deepest = (uint32_t)(sp - p) * 4u;

    {
      char *end = append_text(append_unsigned(append_text(line, "out "), i), " ");
      for (k = 0; k < TFKD_OUTPUT_SIZE; ++k) end = append_hex_byte(end, (uint8_t)output[k]);
      end = append_text(end, "\n");
      *end = '\0';
      tfkd_print(line);
    }
  }
  print_pair("stack", deepest, 0, 0);
  print_pair("ticks", total_ticks, "samples", TFKD_SAMPLE_COUNT);
  return 0;
}
