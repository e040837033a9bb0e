// Pixels to network input in one pass: resampling, channel order, (x - mean) * norm.
//
// Fused and row by row: for each output row the source rows it needs are blended
// vertically in 8-bit fixed point (16-bit results), then a horizontal pass blends
// those with 14-bit weights (32-bit sums) and writes the normalized, channel-ordered
// row straight into the network's float planes. Hand-written kernels for each
// instruction set (resample_kernels.h: AVX2 on x86 chosen at run time, NEON on
// aarch64, a scalar reference elsewhere) compute the same integers. No resized image
// is ever stored, each source pixel a filter uses is read once per output row, and
// the buffers (one source row wide) stay in L1. Large downscales use area filtering
// (see ResizeFilter): bilinear there reads 2 of every N pixels and aliases.
//
// At the network's own size nothing is resampled: each pixel becomes
// pixel * norm - mean * norm, exactly as ncnn's from_pixels + substract_mean_normalize.
#pragma once

#include "facedge/family.h"
#include "facedge/image.h"
#include "facedge/resample.h"

namespace ncnn {
class Mat;
class Allocator;
}

namespace facedge {

// out: a 3 x height x width float32 ncnn::Mat, created here from `allocator` (null:
// the default one). threads > 1: the output rows are split into that many blocks run by
// the calling thread's OpenMP team (ncnn's team, when called on a Detector's inference
// thread); each row is computed alone, so the result is the same bytes as threads 1.
// padded_width/height (0: width/height): for families that pad, `out` is made at that
// size with the image at its top-left and the rest filled as pad_bottom_right fills it,
// in the same pass (no second copy of the input). bf16: `out` holds bfloat16 values
// (elemsize 2), each the fp32 result rounded exactly as ncnn's cast_float32_to_bfloat16
// rounds it: what a network with bf16 storage would make of the fp32 input, without
// its cast pass.
void resize_normalize(const ImageView& image, PixelOrder order, const float mean[3], const float norm[3], int width, int height, ncnn::Mat& out,
                      ncnn::Allocator* allocator = nullptr, ResizeFilter filter = ResizeFilter::Auto, int threads = 1,
                      int padded_width = 0, int padded_height = 0, bool bf16 = false);

// For families that pad (FamilySpec::pad_multiple): `in` placed at the top-left of a
// 3 x net_height x net_width Mat, the rest filled with what a black pixel becomes
// after normalization, (0 - mean) * norm. Unchanged when the sizes already agree.
void pad_bottom_right(ncnn::Mat& in, int net_width, int net_height, const float mean[3], const float norm[3],
                      ncnn::Allocator* allocator = nullptr);

} // namespace facedge
