// bf16 storage (DetectorOptions::bf16): which storage runs, and that it changes the
// network's outputs by bf16 rounding only. On the upstream ULFD RFB-320 model (shared
// data; skipped where it is absent).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "facedge/detector.h"
#include "facedge/error.h"
#include "test.h"

#include "cpu.h"

using namespace facedge;

namespace {

bool reference_model(std::string& param, std::string& bin)
{
    const std::string shared = facedge_test::shared_dir();
    if (shared.empty())
        return false;
    param = shared + "/reference/ultraface-ncnn/RFB-320.param";
    bin = shared + "/reference/ultraface-ncnn/RFB-320.bin";
    CHECK(std::ifstream(param).good() && std::ifstream(bin).good());
    return true;
}

// An armv8.2 CPU with fp16 arithmetic (a Pi 5's A76), where ncnn's fp16 storage runs.
bool cpu_has_fp16_storage()
{
#if defined(__aarch64__)
    return ncnn::cpu_support_arm_asimdhp() != 0;
#else
    return false;
#endif
}

} // namespace

TEST(bf16_storage_follows_ncnns_precedence)
{
    CHECK(ncnn_has_bf16()); // facedge's own ncnn build has it (cpp/cmake/ncnn.cmake)
    const bool fp16 = cpu_has_fp16_storage();
    CHECK(float_storage_for(false, Bf16Mode::Off) == FloatStorage::Fp32);
    CHECK(float_storage_for(true, Bf16Mode::Off) == (fp16 ? FloatStorage::Fp16 : FloatStorage::Fp32));
    // asked for, bf16 runs unless fp16 storage does (ncnn prefers fp16)
    CHECK(float_storage_for(true, Bf16Mode::On) == (fp16 ? FloatStorage::Fp16 : FloatStorage::Bf16));
    CHECK(float_storage_for(false, Bf16Mode::On) == FloatStorage::Bf16);
    // auto: on only on an ARM CPU without fp16 storage (a Pi 4)
#if defined(__aarch64__) || defined(__arm__)
    const FloatStorage arm_auto = fp16 ? FloatStorage::Fp16 : FloatStorage::Bf16;
    CHECK(float_storage_for(true, Bf16Mode::Auto) == arm_auto);
    CHECK(float_storage_for(false, Bf16Mode::Auto) == (fp16 ? FloatStorage::Fp32 : FloatStorage::Bf16));
#else
    CHECK(float_storage_for(true, Bf16Mode::Auto) == FloatStorage::Fp32);
#endif
    CHECK(std::string(float_storage_name(FloatStorage::Bf16)) == "bf16");
}

TEST(bf16_outputs_differ_from_fp32_by_rounding_only)
{
    std::string param, bin;
    if (!reference_model(param, bin))
        SKIP("no shared data; set FACEDGE_SHARED");
    DetectorOptions opt;
    opt.use_fp16 = false; // bf16 runs on every CPU
    Detector fp32(param, bin, ModelConfig::defaults_for("ultraface-rfb"), opt);
    opt.bf16 = Bf16Mode::On;
    Detector bf16(param, bin, ModelConfig::defaults_for("ultraface-rfb"), opt);
    CHECK(fp32.float_storage() == FloatStorage::Fp32 && bf16.float_storage() == FloatStorage::Bf16);

    // a textured frame at the model's size (nothing resampled)
    std::vector<uint8_t> pixels(320 * 240 * 3);
    unsigned seed = 11u;
    for (size_t i = 0; i < pixels.size(); i++)
    {
        const size_t x = i / 3 % 320, y = i / 3 / 320;
        pixels[i] = (uint8_t)((x * 7 + y * 3) % 256 / 2 + ((seed = seed * 1103515245u + 12345u) >> 25));
    }
    ImageView img{pixels.data(), 320, 240, 320 * 3, PixelFormat::BGR};
    const RawResult a = fp32.infer(img), b = bf16.infer(img);
    CHECK(a.scores.size() == b.scores.size() && a.boxes.size() == b.boxes.size());
    double score_max = 0, score_sum = 0, box_max = 0;
    size_t differ = 0;
    for (size_t i = 0; i < a.scores.size(); i++)
    {
        const double d = std::fabs(a.scores[i] - b.scores[i]);
        score_max = std::max(score_max, d);
        score_sum += d;
        differ += d > 0;
    }
    for (size_t i = 0; i < a.boxes.size(); i++)
        box_max = std::max(box_max, (double)std::fabs(a.boxes[i] - b.boxes[i]));
    // bf16 keeps 8 significant bits (relative error up to 2^-9 per rounding). Measured on
    // this frame (x86): scores 0.0045 at most, 0.0007 on average, box regressions 0.17;
    // over the 24 demo photos 0.027-0.030 and 0.31-0.39 at most. Bounds: about 4x.
    CHECK(differ > a.scores.size() / 2); // bf16 really ran: most values changed
    // the softmax after the last convolutions runs fp32 (detector.cpp): its output is
    // not rounded to bf16, so nearly every score has low mantissa bits set
    size_t fine = 0;
    for (float v : b.scores)
    {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        fine += (bits & 0xFFFFu) != 0;
    }
    CHECK(fine > b.scores.size() * 9 / 10);
    CHECK(score_max < 0.02);
    CHECK(score_sum / a.scores.size() < 0.003);
    CHECK(box_max < 0.6);
}
