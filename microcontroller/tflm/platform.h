// What main.cc needs from the machine it runs on: text output, a clock that counts instructions,
// and the stack high-water mark. host/platform.cc and cortex_m4/platform.cc implement it.
#ifndef TFKD_TFLM_PLATFORM_H_
#define TFKD_TFLM_PLATFORM_H_

#include <cstdint>

// Writes a NUL-terminated line (stdout on the host, semihosting on the Cortex-M4).
void PlatformPrint(const char* text);

// A free-running counter and how many of its ticks 2,000,000 instructions take; both are 0 where
// the platform cannot count instructions (the host), and the harness then prints no cost.
uint32_t PlatformTicks();
uint32_t PlatformTicksElapsed(uint32_t start, uint32_t stop);
uint32_t PlatformCalibrationTicks();

// The stack pointer where it is used (a macro, so that it is the caller's own); 0 on the host.
#if defined(__arm__)
#define PLATFORM_STACK_POINTER()                    \
  ({                                                \
    uintptr_t sp_;                                  \
    __asm__ volatile("mov %0, sp" : "=r"(sp_));     \
    sp_;                                            \
  })
#else
#define PLATFORM_STACK_POINTER() static_cast<uintptr_t>(0)
#endif

// Fills the free stack below `top` (the caller's stack pointer) with a pattern; PlatformStackUsed
// then returns how many bytes below `top` were overwritten since. Both do nothing (0) on the host.
void PlatformPaintStack(uintptr_t top);
uint32_t PlatformStackUsed(uintptr_t top);

#endif  // TFKD_TFLM_PLATFORM_H_
