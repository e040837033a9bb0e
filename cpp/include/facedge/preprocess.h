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

} // namespace facedge
