#include "facedge/build_info.h"

#include "cpu.h"
#include "platform.h"

namespace facedge {

std::string ncnn_version()
{
    return NCNN_VERSION_STRING;
}

std::vector<KernelVariant> kernel_variants()
{
    std::vector<KernelVariant> v;
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
    // with NCNN_RUNTIME_CPU off only the compiler's baseline would be compiled
    const bool dispatch = NCNN_RUNTIME_CPU;
    v.push_back({"avx", dispatch && NCNN_AVX, ncnn::cpu_support_x86_avx() != 0});
    v.push_back({"fma", dispatch && NCNN_FMA, ncnn::cpu_support_x86_fma() != 0});
    v.push_back({"f16c", dispatch && NCNN_F16C, ncnn::cpu_support_x86_f16c() != 0});
    v.push_back({"avx2", dispatch && NCNN_AVX2, ncnn::cpu_support_x86_avx2() != 0});
    v.push_back({"avx_vnni", dispatch && NCNN_AVXVNNI, ncnn::cpu_support_x86_avx_vnni() != 0});
    v.push_back({"avx512", dispatch && NCNN_AVX512, ncnn::cpu_support_x86_avx512() != 0});
    v.push_back({"avx512_vnni", dispatch && NCNN_AVX512VNNI, ncnn::cpu_support_x86_avx512_vnni() != 0});
#elif defined(__aarch64__) || defined(_M_ARM64)
    v.push_back({"asimdhp", NCNN_ARM82 != 0, ncnn::cpu_support_arm_asimdhp() != 0});
    v.push_back({"asimddp", NCNN_ARM82DOT != 0, ncnn::cpu_support_arm_asimddp() != 0});
#endif
    return v;
}

} // namespace facedge
