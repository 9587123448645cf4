# Cortex-M toolchain for the firmware template: arm-none-eabi-gcc, newlib-nano, and stdio over
# semihosting (rdimon), so that main.cc's printf/fgets reach a debugger or QEMU without a UART driver.
# The CPU flags must match the TFLite Micro library (TARGET=cortex_m_generic TARGET_ARCH=cortex-m4+fp).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
# No OS to run test executables on: CMake's compiler checks build a static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(TFKD_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" CACHE STRING "CPU flags (match the TFLite Micro build)")
set(CMAKE_C_FLAGS_INIT "${TFKD_CPU_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${TFKD_CPU_FLAGS} -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti -fno-threadsafe-statics")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${TFKD_CPU_FLAGS} -Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs")
