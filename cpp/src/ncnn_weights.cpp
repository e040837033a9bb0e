#include "facedge/ncnn_weights.h"

#include <cstdint>
#include <cstring>

#include "facedge/error.h"

#include "mat.h" // ncnn::float16_to_float32, bfloat16_to_float32

namespace facedge {
namespace {

// ncnn's storage tags (ModelBinFromDataReader::load(n, 0))
const uint32_t kTagFp16 = 0x01306B47u, kTagBf16 = 0x01348B83u, kTagInt8 = 0x000D4B38u, kTagFp32 = 0x0002C056u;

unsigned long long align4(unsigned long long n)
{
    return (n + 3) & ~3ULL;
}

long long product(std::initializer_list<long long> sizes)
{
    long long n = 1;
    for (long long s : sizes)
        n = s > (1LL << 40) / n ? (1LL << 40) : n * s; // saturates: no .bin is that large
    return n;
}

WeightChunk raw(const char* what, long long count)
{
    WeightChunk c;
    c.what = what;
    c.count = count;
    return c;
}

WeightChunk tagged(const char* what, long long count)
{
    WeightChunk c = raw(what, count);
    c.tagged = true;
    return c;
}

// The int8 scales a quantized convolution or inner product loads after its bias.
void add_int8_scales(const NcnnLayer& l, std::vector<WeightChunk>& out)
{
    const long long term = l.get_int(8, 0);
    if (!term)
        return;
    long long scales = l.get_int(0, 0);
    if (l.type == "ConvolutionDepthWise")
    {
        if (term == 1 || term == 101)
            scales = l.get_int(7, 1);
        else if (term == 2 || term == 102)
            scales = 1;
        else
            return; // ncnn loads none for other terms
    }
    out.push_back(raw("weight scales", scales));
    out.push_back(raw("input scale", 1));
    if (term > 100 && l.type != "InnerProduct")
        out.push_back(raw("output scale", 1));
}

} // namespace

std::vector<WeightChunk> weight_layout(const NcnnLayer& l)
{
    const std::string& t = l.type;
    std::vector<WeightChunk> out;
    if (t == "Convolution" || t == "ConvolutionDepthWise" || t == "Deconvolution")
    {
        if (l.get_int(19, 0))
            return out; // dynamic weights come from a second input
        out.push_back(tagged("weight", l.get_int(6, 0)));
        if (l.get_int(5, 0))
            out.push_back(raw("bias", l.get_int(0, 0)));
        if (t != "Deconvolution") // ncnn has no int8 deconvolution
            add_int8_scales(l, out);
    }
    else if (t == "InnerProduct")
    {
        out.push_back(tagged("weight", l.get_int(2, 0)));
        if (l.get_int(1, 0))
            out.push_back(raw("bias", l.get_int(0, 0)));
        add_int8_scales(l, out);
    }
    else if (t == "BatchNorm")
    {
        for (const char* what : {"slope", "mean", "var", "bias"})
            out.push_back(raw(what, l.get_int(0, 0)));
    }
    else if (t == "Scale")
    {
        const long long n = l.get_int(0, 0);
        if (n == -233)
            return out; // the scales come from a second input
        out.push_back(raw("scale", n));
        if (l.get_int(1, 0))
            out.push_back(raw("bias", n));
    }
    else if (t == "Bias" || t == "PReLU")
        out.push_back(raw("data", l.get_int(0, 0)));
    else if (t == "MemoryData")
    {
        const long long w = l.get_int(0, 0), h = l.get_int(1, 0), d = l.get_int(11, 0), c = l.get_int(2, 0);
        if (w)
        {
            const long long n = product({w, h ? h : 1, d ? d : 1, c ? c : 1});
            out.push_back(l.get_int(21, 1) == 1 ? raw("data", n) : tagged("data", n));
        }
    }
    else if (t == "Quantize" || t == "Dequantize" || t == "Requantize")
    {
        out.push_back(raw("scales", l.get_int(0, 1)));
        if (t == "Requantize")
        {
            out.push_back(raw("output scales", l.get_int(1, 1)));
            if (l.get_int(2, 0))
                out.push_back(raw("bias", l.get_int(2, 0)));
        }
        else if (t == "Dequantize" && l.get_int(1, 0))
            out.push_back(raw("bias", l.get_int(1, 0)));
    }
    else if (t == "Padding" && l.get_int(6, 0))
        out.push_back(raw("pad values", l.get_int(6, 0)));
    return out;
}

std::vector<std::vector<WeightChunk> > locate_weights(const NcnnParamFile& param, const unsigned char* bin, size_t bin_size,
                                                      const std::string& bin_name)
{
    std::vector<std::vector<WeightChunk> > layers;
    size_t pos = 0;
    for (const NcnnLayer& l : param.layers)
    {
        std::vector<WeightChunk> chunks = weight_layout(l);
        for (WeightChunk& c : chunks)
        {
            if (c.count < 0)
                l.fail("its " + c.what + " would hold " + std::to_string(c.count) + " values");
            auto need = [&](unsigned long long bytes) {
                if (bytes > bin_size - pos)
                    throw Error(bin_name + ": too short for layer '" + l.name + "' (" + l.type + ") " + c.what + ": needs " + std::to_string(bytes)
                                + " bytes at offset " + std::to_string(pos) + " but only " + std::to_string(bin_size - pos)
                                + " remain (truncated, or the .bin of another .param)");
            };
            const unsigned long long n = (unsigned long long)c.count;
            unsigned long long bytes = n * 4;
            if (c.tagged)
            {
                need(4);
                uint32_t tag;
                std::memcpy(&tag, bin + pos, 4);
                const unsigned char* b = bin + pos;
                if (tag == kTagFp16 || tag == kTagBf16)
                {
                    c.storage = tag == kTagFp16 ? WeightStorage::Fp16 : WeightStorage::Bf16;
                    bytes = 4 + align4(n * 2);
                }
                else if (tag == kTagInt8)
                {
                    c.storage = WeightStorage::Int8;
                    bytes = 4 + align4(n);
                }
                else if (tag != kTagFp32 && (b[0] | b[1] | b[2] | b[3]) != 0)
                {
                    c.storage = WeightStorage::Table;
                    bytes = 4 + 256 * 4 + align4(n);
                }
                else
                    bytes = 4 + n * 4; // fp32, with the fp32 tag or a zero tag
            }
            need(bytes);
            c.offset = pos;
            c.size = (size_t)bytes;
            pos += (size_t)bytes;
        }
        layers.push_back(chunks);
    }
    if (pos != bin_size)
        throw Error(bin_name + ": " + std::to_string(bin_size - pos) + " bytes left over after the last layer's weights (" + std::to_string(pos) + " of "
                    + std::to_string(bin_size) + " used): the .bin of another .param, or a layer type facedge does not know carries weights");
    return layers;
}

std::vector<float> decode_weights(const unsigned char* bin, const WeightChunk& c)
{
    std::vector<float> v((size_t)c.count);
    const unsigned char* p = bin + c.offset + (c.tagged ? 4 : 0);
    for (size_t i = 0; i < v.size(); i++)
    {
        uint16_t half;
        switch (c.storage)
        {
        case WeightStorage::Fp32:
            std::memcpy(&v[i], p + 4 * i, 4);
            break;
        case WeightStorage::Fp16:
        case WeightStorage::Bf16:
            std::memcpy(&half, p + 2 * i, 2);
            v[i] = c.storage == WeightStorage::Fp16 ? ncnn::float16_to_float32(half) : ncnn::bfloat16_to_float32(half);
            break;
        case WeightStorage::Int8:
            v[i] = (float)(signed char)p[i];
            break;
        case WeightStorage::Table:
            std::memcpy(&v[i], p + 4 * p[1024 + i], 4);
            break;
        }
    }
    return v;
}

} // namespace facedge
