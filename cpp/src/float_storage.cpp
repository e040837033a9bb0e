#include "facedge/float_storage.h"

#include "facedge/error.h"

#include "cpu.h"
#include "platform.h"

namespace facedge {

bool ncnn_has_bf16()
{
#if NCNN_BF16
    return true;
#else
    return false;
#endif
}

namespace {

bool cpu_runs_fp16_storage()
{
#if (defined(__aarch64__) || defined(_M_ARM64)) && NCNN_ARM82
    return ncnn::cpu_support_arm_asimdhp() != 0;
#else
    return false;
#endif
}

bool is_arm()
{
#if defined(__aarch64__) || defined(_M_ARM64) || defined(__arm__)
    return true;
#else
    return false;
#endif
}

} // namespace

FloatStorage float_storage_for(bool use_fp16, Bf16Mode bf16)
{
    if (bf16 == Bf16Mode::On && !ncnn_has_bf16())
        throw Error("bf16 storage needs an ncnn built with NCNN_BF16=ON, and the ncnn this facedge links was built without it "
                    "(facedge's own ncnn build has it; an ncnn given through ncnn_DIR may not)");
    if (use_fp16 && cpu_runs_fp16_storage())
        return FloatStorage::Fp16;
    const bool want_bf16 = bf16 == Bf16Mode::On || (bf16 == Bf16Mode::Auto && ncnn_has_bf16() && is_arm() && !cpu_runs_fp16_storage());
    return want_bf16 ? FloatStorage::Bf16 : FloatStorage::Fp32;
}

const char* float_storage_name(FloatStorage s)
{
    switch (s)
    {
    case FloatStorage::Fp16: return "fp16";
    case FloatStorage::Bf16: return "bf16";
    default: return "fp32";
    }
}

} // namespace facedge
