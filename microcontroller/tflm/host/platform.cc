// Host (Linux, macOS) side of platform.h: stdout, and no instruction counter.
#include <cstdio>

#include "platform.h"

void PlatformPrint(const char* text) { std::fputs(text, stdout); }
uint32_t PlatformTicks() { return 0; }
uint32_t PlatformTicksElapsed(uint32_t, uint32_t) { return 0; }
uint32_t PlatformCalibrationTicks() { return 0; }
void PlatformPaintStack(uintptr_t) {}
uint32_t PlatformStackUsed(uintptr_t) { return 0; }
