// Pixels to network input in one pass: bilinear resize, channel order, (x - mean) * norm.
//
// The resize is ncnn's own bilinear (NEON-optimized on ARM), so the network sees
// exactly what ncnn's from_pixels_resize would give it. What follows it is one pass
// instead of ncnn's two (from_pixels, then substract_mean_normalize, which also builds
// a Scale layer on every call), and the buffers are reused between calls.
#pragma once

#include "facedge/family.h"
#include "facedge/image.h"

namespace ncnn {
class Mat;
class Allocator;
}

namespace facedge {

// out: a 3 x height x width float32 ncnn::Mat, created here from `allocator` (null:
// the default one).
void resize_normalize(const ImageView& image, PixelOrder order, const float mean[3], const float norm[3], int width, int height, ncnn::Mat& out,
                      ncnn::Allocator* allocator = nullptr);

// For families that pad (FamilySpec::pad_multiple): `in` placed at the top-left of a
// 3 x net_height x net_width Mat, the rest filled with what a black pixel becomes
// after normalization, (0 - mean) * norm. Unchanged when the sizes already agree.
void pad_bottom_right(ncnn::Mat& in, int net_width, int net_height, const float mean[3], const float norm[3],
                      ncnn::Allocator* allocator = nullptr);

} // namespace facedge
