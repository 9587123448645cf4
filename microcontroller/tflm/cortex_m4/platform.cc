// Cortex-M4 side of platform.h, for QEMU's mps2-an386 (or a board with semihosting).
//
// Instructions are counted the way tfkd's code-generator harness (microcontroller/cortex_m4/main.c)
// counts them, so that the two engines compare: under `qemu-system-arm -icount shift=0` virtual
// time advances one step per executed instruction, SysTick on the processor clock follows it in
// fixed steps, and a loop of known length (2 instructions per iteration) converts ticks into
// instructions.
#include "platform.h"

#include "semihosting.h"

namespace {

volatile uint32_t& Register(uint32_t address) { return *reinterpret_cast<volatile uint32_t*>(address); }

constexpr uint32_t kSysTickControl = 0xE000E010u;
constexpr uint32_t kSysTickReload = 0xE000E014u;
constexpr uint32_t kSysTickCurrent = 0xE000E018u;
constexpr uint32_t kSysTickMask = 0x00FFFFFFu;
constexpr uint32_t kStackPaint = 0xDEADBEEFu;
constexpr uint32_t kCalibrationIterations = 1000000u;

// Exactly two instructions (subs, bne) per iteration.
__attribute__((noinline)) void Spin(uint32_t iterations) {
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

void StartSysTick() {
  static bool started = false;
  if (started) return;
  Register(kSysTickReload) = kSysTickMask;  // free-running 24-bit down counter
  Register(kSysTickCurrent) = 0;
  Register(kSysTickControl) = 5u;  // enable, processor clock, no interrupt
  started = true;
}

}  // namespace

extern "C" uint32_t __stack_limit;

void PlatformPrint(const char* text) { TfkdSemihostWrite0(text); }

uint32_t PlatformTicks() {
  StartSysTick();
  return Register(kSysTickCurrent);
}

uint32_t PlatformTicksElapsed(uint32_t start, uint32_t stop) { return (start - stop) & kSysTickMask; }

uint32_t PlatformCalibrationTicks() {
  const uint32_t start = PlatformTicks();
  Spin(kCalibrationIterations);
  return PlatformTicksElapsed(start, PlatformTicks());
}

// Paints up to this function's own stack pointer: its frame, just below `top`, is overwritten again
// by any call deeper than it, which is what is measured.
void PlatformPaintStack(uintptr_t top) {
  uint32_t* sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &__stack_limit; p < sp && reinterpret_cast<uintptr_t>(p) < top; ++p) *p = kStackPaint;
}

uint32_t PlatformStackUsed(uintptr_t top) {
  const uint32_t* p = &__stack_limit;
  while (reinterpret_cast<uintptr_t>(p) < top && *p == kStackPaint) ++p;
  return static_cast<uint32_t>(top - reinterpret_cast<uintptr_t>(p));
}
