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

// Fills the free stack below the caller's frame with a pattern; PlatformStackUsed then returns
// how many bytes below `top` were overwritten since. Both do nothing (0) on the host.
uintptr_t PlatformPaintStack();
uint32_t PlatformStackUsed(uintptr_t top);

#endif  // TFKD_TFLM_PLATFORM_H_
