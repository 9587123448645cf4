/* Minimal Arm semihosting (BKPT 0xAB on M-profile): text output and exit through the debugger
 * or emulator (qemu-system-arm -semihosting-config enable=on). No C library needed. */
#ifndef TFKD_SEMIHOSTING_H_
#define TFKD_SEMIHOSTING_H_

#include <stdint.h>

#define TFKD_SYS_WRITE0 0x04u
#define TFKD_SYS_EXIT 0x18u
#define TFKD_ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define TFKD_ADP_STOPPED_RUNTIME_ERROR 0x20023u

static inline uint32_t tfkd_semihost(uint32_t operation, const void *argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* Prints a NUL-terminated string on the host's standard output. */
static inline void tfkd_print(const char *text) { tfkd_semihost(TFKD_SYS_WRITE0, text); }

/* Ends the emulation: QEMU exits with status 0 on success and 1 otherwise. */
static inline void tfkd_exit(int success) {
  tfkd_semihost(TFKD_SYS_EXIT,
                (const void *)(uintptr_t)(success ? TFKD_ADP_STOPPED_APPLICATION_EXIT
                                                   : TFKD_ADP_STOPPED_RUNTIME_ERROR));
  for (;;) {
  }
}

#endif /* TFKD_SEMIHOSTING_H_ */
