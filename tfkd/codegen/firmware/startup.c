/* Cortex-M4 start-up for the mps2-an386 image: vector table, reset handler (copy .data, zero
 * .bss, run main) and fault handlers that report through semihosting instead of hanging. */
#include <stdint.h>

#include "semihosting.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern int main(void);

void Reset_Handler(void);
static void Fault_Handler(void);

/* The core loads SP from entry 0 and jumps to entry 1 at reset; entries 2-6 are faults. */
__attribute__((section(".vectors"), used)) static const void *const vector_table[16] = {
    &__stack_top,    (const void *)Reset_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler, (const void *)Fault_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler,
};

void Reset_Handler(void) {
  uint32_t *source = &__data_load;
  uint32_t *target;
  for (target = &__data_start; target < &__data_end;) *target++ = *source++;
  for (target = &__bss_start; target < &__bss_end;) *target++ = 0;
  tfkd_exit(main() == 0);
}

static void Fault_Handler(void) {
  tfkd_print("fault: the Cortex-M4 took a fault exception\n");
  tfkd_exit(0);
}
