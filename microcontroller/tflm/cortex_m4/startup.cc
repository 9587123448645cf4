// Cortex-M4 start-up for the mps2-an386 image: vector table, reset handler and fault handler.
// Unlike a C image it runs the C++ static constructors (__libc_init_array) before main, because
// TFLite Micro and libstdc++ may have some.
#include <cstdint>

#include "semihosting.h"

extern "C" {
extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
void __libc_init_array();
int main();
void Reset_Handler();
}

namespace {

void FaultHandler() {
  TfkdSemihostWrite0("error: the Cortex-M4 took a fault exception\n");
  TfkdSemihostExit(false);
}

}  // namespace

// The core loads SP from entry 0 and jumps to entry 1 at reset; entries 2-6 are faults.
__attribute__((section(".vectors"), used)) const void* const kVectorTable[16] = {
    &__stack_top,  reinterpret_cast<const void*>(Reset_Handler), reinterpret_cast<const void*>(FaultHandler),
    reinterpret_cast<const void*>(FaultHandler), reinterpret_cast<const void*>(FaultHandler),
    reinterpret_cast<const void*>(FaultHandler), reinterpret_cast<const void*>(FaultHandler),
};

extern "C" void Reset_Handler() {
  const uint32_t* source = &__data_load;
  for (uint32_t* target = &__data_start; target < &__data_end;) *target++ = *source++;
  for (uint32_t* target = &__bss_start; target < &__bss_end;) *target++ = 0;
  __libc_init_array();
  TfkdSemihostExit(main() == 0);
}

// newlib's __libc_init_array calls _init, which crt0 would provide; -nostartfiles leaves it out.
extern "C" void _init() {}
extern "C" void _fini() {}

// Function-local statics with destructors (the interpreter in main.cc) register them for program
// exit. Firmware never runs them, so registration is a no-op; __dso_handle, which crtbegin would
// define, identifies this image to it.
extern "C" {
void* __dso_handle = nullptr;
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
}
