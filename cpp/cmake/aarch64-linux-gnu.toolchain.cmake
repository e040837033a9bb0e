# Cross toolchain for 64-bit Raspberry Pi OS (Bookworm, glibc 2.36) with Debian's
# g++-aarch64-linux-gnu. Used for the C++ tests under qemu and for the aarch64 wheel.
#
# Baseline ISA: armv8-a + crc, which is exactly what a Pi 4's Cortex-A72 has (no crypto
# on the BCM2711), tuned for the A72. ncnn adds its armv8.2 fp16 / dot-product kernels
# as runtime-dispatched variants (cpp/cmake/ncnn.cmake), so the same binary uses them
# on a Pi 5 (Cortex-A76) and never runs them on a Pi 4. -march rather than
# -mcpu=cortex-a72: ncnn compiles its variants with -march=armv8.2-a+..., which
# would conflict with a -mcpu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_C_FLAGS_INIT "-march=armv8-a+crc -mtune=cortex-a72")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a+crc -mtune=cortex-a72")

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Packages: the cross root first, then the host (pybind11 is header-only CMake config).
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Lets ctest run target binaries. Always an A72: qemu's default CPU ("max") advertises
# fp16/dotprod/SVE, and ncnn would then run kernels a Pi 4 never runs.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;cortex-a72;-L;/usr/aarch64-linux-gnu)
