// How ncnn stores the float blobs and weights of a network: fp32, fp16 or bfloat16.
//
// bf16 storage keeps the upper 16 bits of each fp32 value (rounded) and computes in
// fp32: half the bytes through the caches and DRAM, 8 of fp32's 24 significant bits.
// It pays on CPUs that have no fp16 storage kernels, such as the Raspberry Pi 4's
// Cortex-A72 (armv8.0), where facedge's models at 4 threads wait on DRAM.
#pragma once

namespace facedge {

// DetectorOptions::bf16. Auto: on where it pays, i.e. on an ARM CPU whose ncnn has no
// fp16 storage to run (no armv8.2 fp16: a Pi 4, not a Pi 5); off elsewhere.
enum class Bf16Mode { Off, On, Auto };

enum class FloatStorage { Fp32, Fp16, Bf16 };

// This ncnn build has bf16 storage kernels (built with NCNN_BF16).
bool ncnn_has_bf16();

// The storage ncnn runs for these options on this CPU. ncnn 20261020's precedence
// (net.cpp convert_layout, and each layer's create_pipeline): fp16 storage where
// use_fp16_storage is set and the CPU has armv8.2 fp16 arithmetic (asimdhp, with
// ncnn's NCNN_ARM82 variant compiled), even if bf16 storage is also asked for; then
// bf16 where asked for and compiled; else fp32. (x86 has no fp16 storage path for
// facedge's layers: convert_layout casts blobs to fp16 only on ARM and RISC-V.)
// Throws facedge::Error for Bf16Mode::On with an ncnn built without bf16.
FloatStorage float_storage_for(bool use_fp16, Bf16Mode bf16);

const char* float_storage_name(FloatStorage s); // "fp32", "fp16", "bf16"

} // namespace facedge
