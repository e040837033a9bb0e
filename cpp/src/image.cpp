#include "facedge/image.h"

#include <string>

#include "facedge/error.h"

namespace facedge {

int channels_of(PixelFormat format)
{
    switch (format)
    {
    case PixelFormat::BGR:
    case PixelFormat::RGB:
        return 3;
    case PixelFormat::BGRA:
    case PixelFormat::RGBA:
        return 4;
    case PixelFormat::GRAY:
        return 1;
    }
    return 0;
}

const char* pixel_format_name(PixelFormat format)
{
    switch (format)
    {
    case PixelFormat::BGR: return "bgr";
    case PixelFormat::RGB: return "rgb";
    case PixelFormat::BGRA: return "bgra";
    case PixelFormat::RGBA: return "rgba";
    case PixelFormat::GRAY: return "gray";
    }
    return "?";
}

void check_image(const ImageView& image)
{
    if (image.width <= 0 || image.height <= 0)
        throw Error("image: size must be positive, got " + std::to_string(image.width) + "x" + std::to_string(image.height));
    if (!image.data)
        throw Error("image: no pixel data");
    const long long row_bytes = (long long)image.width * channels_of(image.format);
    if (image.stride < row_bytes)
        throw Error("image: row stride " + std::to_string(image.stride) + " bytes is smaller than a " + pixel_format_name(image.format)
                    + " row of " + std::to_string(image.width) + " pixels (" + std::to_string(row_bytes) + " bytes)");
}

} // namespace facedge
