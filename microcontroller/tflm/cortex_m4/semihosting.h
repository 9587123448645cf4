// Arm semihosting (BKPT 0xAB on M-profile): text output and exit through QEMU
// (-semihosting-config enable=on,target=native) or a debugger. Needs no C library.
#ifndef TFKD_TFLM_SEMIHOSTING_H_
#define TFKD_TFLM_SEMIHOSTING_H_

#include <cstdint>

inline uint32_t TfkdSemihost(uint32_t operation, const void* argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

inline void TfkdSemihostWrite0(const char* text) { TfkdSemihost(0x04u, text); }  // SYS_WRITE0

// SYS_EXIT: QEMU exits with status 0 for "application exit" and 1 for "runtime error".
[[noreturn]] inline void TfkdSemihostExit(bool success) {
  TfkdSemihost(0x18u, reinterpret_cast<const void*>(static_cast<uintptr_t>(success ? 0x20026u : 0x20023u)));
  for (;;) {
  }
}

#endif  // TFKD_TFLM_SEMIHOSTING_H_
