// A borrowed view of 8-bit pixels: facedge never copies the caller's frame.
#pragma once

#include <cstdint>

namespace facedge {

enum class PixelFormat
{
    BGR,
    RGB,
    BGRA,
    RGBA,
    GRAY,
};

int channels_of(PixelFormat format);
const char* pixel_format_name(PixelFormat format);

struct ImageView
{
    const uint8_t* data = nullptr;
    int width = 0;
    int height = 0;
    int stride = 0; // bytes from one row to the next, >= width * channels
    PixelFormat format = PixelFormat::BGR;
};

// Throws facedge::Error when the view cannot be read as described.
void check_image(const ImageView& image);

} // namespace facedge
