// Which of ncnn's CPU kernel variants this build holds, and which of them this CPU
// runs (ncnn picks among the compiled ones at run time from the CPU's features).
#pragma once

#include <string>
#include <vector>

namespace facedge {

struct KernelVariant
{
    std::string name;  // e.g. "avx512_vnni", "asimddp"
    bool compiled;     // in this build of ncnn
    bool cpu;          // this CPU has the instructions
    bool runs() const { return compiled && cpu; }
};

std::string ncnn_version();
// The variants that matter for facedge's layers on this architecture, from the
// baseline up (x86: avx, fma, f16c, avx2, avx_vnni, avx512, avx512_vnni; arm:
// asimdhp (fp16), asimddp (int8 dot product)).
std::vector<KernelVariant> kernel_variants();

} // namespace facedge
