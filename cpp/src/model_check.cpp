#include "facedge/model_check.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "facedge/error.h"

#include "layer.h" // ncnn::layer_to_index: which layer types this ncnn build has

namespace facedge {
namespace {

const int kMaxParamId = 32;     // ncnn's NCNN_MAX_PARAM_COUNT
const int kMaxCount = 1 << 20;  // layers, blobs
const int kMaxChannels = 1 << 16;
const int kMaxKernel = 1 << 10;
const long long kMaxWeights = 1LL << 28;

struct ParamValue
{
    bool is_array = false;
    std::vector<double> values; // one value unless is_array
};

struct LayerLine
{
    int line_no = 0;
    std::string type, name;
    std::vector<std::string> bottoms, tops;
    std::map<int, ParamValue> params;
};

struct Context
{
    std::string param_name, bin_name;
};

[[noreturn]] void fail_param(const Context& ctx, int line_no, const std::string& what)
{
    throw Error(ctx.param_name + ":" + std::to_string(line_no) + ": " + what);
}

[[noreturn]] void fail_layer(const Context& ctx, const LayerLine& l, const std::string& what)
{
    throw Error(ctx.param_name + ":" + std::to_string(l.line_no) + ": layer '" + l.name + "' (" + l.type + "): " + what);
}

bool parse_int(const std::string& s, long long& out)
{
    if (s.empty())
        return false;
    errno = 0;
    char* end = nullptr;
    out = std::strtoll(s.c_str(), &end, 10);
    return errno == 0 && end && *end == '\0';
}

bool parse_number(const std::string& s, double& out)
{
    long long i;
    if (parse_int(s, i))
    {
        out = (double)i;
        return true;
    }
    errno = 0;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return !s.empty() && errno == 0 && end && *end == '\0' && std::isfinite(out);
}

std::vector<std::string> split_ws(const std::string& line)
{
    std::vector<std::string> tokens;
    std::istringstream is(line);
    std::string t;
    while (is >> t)
        tokens.push_back(t);
    return tokens;
}

std::vector<std::string> split_char(const std::string& s, char c)
{
    std::vector<std::string> parts;
    size_t start = 0;
    while (true)
    {
        size_t pos = s.find(c, start);
        parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
        if (pos == std::string::npos)
            break;
        start = pos + 1;
    }
    return parts;
}

LayerLine parse_layer(const Context& ctx, const std::vector<std::string>& t, int line_no)
{
    LayerLine l;
    l.line_no = line_no;
    if (t.size() < 4)
        fail_param(ctx, line_no, "expected 'type name bottom_count top_count ...', got " + std::to_string(t.size()) + " fields");
    l.type = t[0];
    l.name = t[1];
    long long nb, nt;
    if (!parse_int(t[2], nb) || !parse_int(t[3], nt) || nb < 0 || nt < 0 || nb > 1024 || nt > 1024)
        fail_param(ctx, line_no, "layer '" + l.name + "': bad bottom/top counts '" + t[2] + " " + t[3] + "'");
    if ((long long)t.size() < 4 + nb + nt)
        fail_param(ctx, line_no, "layer '" + l.name + "': lists fewer blob names than its counts " + t[2] + " " + t[3]);
    for (long long i = 0; i < nb; i++)
        l.bottoms.push_back(t[4 + i]);
    for (long long i = 0; i < nt; i++)
        l.tops.push_back(t[4 + nb + i]);
    for (size_t i = 4 + nb + nt; i < t.size(); i++)
    {
        const std::string& kv = t[i];
        size_t eq = kv.find('=');
        long long id;
        if (eq == std::string::npos || !parse_int(kv.substr(0, eq), id))
            fail_param(ctx, line_no, "layer '" + l.name + "': bad parameter '" + kv + "' (expected id=value)");
        ParamValue v;
        const std::string value = kv.substr(eq + 1);
        if (id <= -23300)
        {
            id = -(id + 23300);
            v.is_array = true;
            std::vector<std::string> parts = split_char(value, ',');
            long long n;
            if (!parse_int(parts[0], n) || n < 0 || n > kMaxCount || (long long)parts.size() != n + 1)
                fail_param(ctx, line_no, "layer '" + l.name + "': bad array parameter '" + kv + "'");
            for (long long k = 1; k <= n; k++)
            {
                double d;
                if (!parse_number(parts[k], d))
                    fail_param(ctx, line_no, "layer '" + l.name + "': bad array element in '" + kv + "'");
                v.values.push_back(d);
            }
        }
        else
        {
            double d;
            if (!parse_number(value, d))
                fail_param(ctx, line_no, "layer '" + l.name + "': bad parameter value '" + kv + "'");
            v.values.push_back(d);
        }
        if (id < 0 || id >= kMaxParamId)
            fail_param(ctx, line_no, "layer '" + l.name + "': parameter id " + std::to_string(id) + " out of range 0.." + std::to_string(kMaxParamId - 1));
        l.params[(int)id] = v;
    }
    return l;
}

long long get_int(const Context& ctx, const LayerLine& l, int id, long long def)
{
    auto it = l.params.find(id);
    if (it == l.params.end())
        return def;
    if (it->second.is_array)
        fail_layer(ctx, l, "parameter " + std::to_string(id) + " must be a number, not an array");
    double v = it->second.values[0];
    if (v != std::floor(v) || std::fabs(v) > 2e9)
        fail_layer(ctx, l, "parameter " + std::to_string(id) + " must be an integer, got " + std::to_string(v));
    return (long long)v;
}

void require(const Context& ctx, const LayerLine& l, bool ok, const std::string& what)
{
    if (!ok)
        fail_layer(ctx, l, what);
}

size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

// Walks the .bin as ncnn's ModelBinFromDataReader reads it.
class BinCursor
{
public:
    BinCursor(const Context& ctx, const unsigned char* data, size_t size)
        : ctx_(ctx), data_(data), size_(size)
    {
    }

    // mb.load(n, 1): raw float32
    void raw(const LayerLine& l, long long n, const char* what)
    {
        take(l, (size_t)n * 4, what);
    }

    // mb.load(n, 0): a 4-byte tag saying how the n values are stored, then the values
    void tagged(const LayerLine& l, long long n, const char* what)
    {
        if (size_ - pos_ < 4)
            truncated(l, 4, what);
        uint32_t tag;
        std::memcpy(&tag, data_ + pos_, 4);
        const unsigned char* b = data_ + pos_;
        const unsigned flag = (unsigned)b[0] + b[1] + b[2] + b[3];
        pos_ += 4;
        size_t bytes;
        if (tag == 0x01306B47u || tag == 0x01348B83u) // fp16, bf16
            bytes = align4((size_t)n * 2);
        else if (tag == 0x000D4B38u) // int8
            bytes = align4((size_t)n);
        else if (tag == 0x0002C056u) // fp32 with tag
            bytes = (size_t)n * 4;
        else if (flag != 0) // 256-entry quantization table + indices
            bytes = 256 * 4 + align4((size_t)n);
        else // raw fp32
            bytes = (size_t)n * 4;
        take(l, bytes, what);
    }

    size_t position() const { return pos_; }
    size_t size() const { return size_; }

private:
    void take(const LayerLine& l, size_t bytes, const char* what)
    {
        if (size_ - pos_ < bytes)
            truncated(l, bytes, what);
        pos_ += bytes;
    }

    [[noreturn]] void truncated(const LayerLine& l, size_t bytes, const char* what)
    {
        throw Error(ctx_.bin_name + ": too short for layer '" + l.name + "' (" + l.type + ") " + what + ": needs " + std::to_string(bytes)
                    + " bytes at offset " + std::to_string(pos_) + " but only " + std::to_string(size_ - pos_)
                    + " remain (truncated, or the .bin of another .param)");
    }

    const Context& ctx_;
    const unsigned char* data_;
    size_t size_;
    size_t pos_ = 0;
};

const int kUnknown = -1;

// The one table of layers whose output has their first input's shape (and so its
// channel count), for both passes below: the channel pass over the .param and the
// shape pass per input size. Layers with weights among them are checked by their own
// rules first; layers not here end the passes along their branch.
bool keeps_shape(const std::string& type)
{
    static const std::set<std::string> types = {
        "ReLU", "Sigmoid", "Clip", "HardSwish", "HardSigmoid", "Swish", "Mish", "ELU", "TanH", "AbsVal", "Exp", "Log", "Power",
        "UnaryOp", "Dropout", "Noop", "Split", "ShuffleChannel", "Cast", "Packing", "Softmax",
        "BatchNorm", "Scale", "Bias", "PReLU", "Quantize", "Dequantize", "Requantize"};
    return types.count(type) != 0;
}

// Checks one layer's parameters, consumes its weights from the .bin, and returns the
// channel count of its first output where it is known (3-D feature maps only).
int check_layer(const Context& ctx, const LayerLine& l, BinCursor& bin, const std::vector<int>& in_channels)
{
    const std::string& t = l.type;
    const int c0 = in_channels.empty() ? kUnknown : in_channels[0];

    if (t == "Convolution" || t == "ConvolutionDepthWise" || t == "Deconvolution")
    {
        const long long num_output = get_int(ctx, l, 0, 0);
        const long long kw = get_int(ctx, l, 1, 0), kh = get_int(ctx, l, 11, kw);
        const long long dw = get_int(ctx, l, 2, 1), dh = get_int(ctx, l, 12, dw);
        const long long sw = get_int(ctx, l, 3, 1), sh = get_int(ctx, l, 13, sw);
        const long long bias_term = get_int(ctx, l, 5, 0);
        const long long weight_size = get_int(ctx, l, 6, 0);
        const long long int8_term = get_int(ctx, l, 8, 0);
        const long long group = t == "ConvolutionDepthWise" ? get_int(ctx, l, 7, 1) : 1;
        const long long dynamic_weight = get_int(ctx, l, 19, 0);
        require(ctx, l, num_output > 0 && num_output <= kMaxChannels, "num_output (0=) must be 1.." + std::to_string(kMaxChannels) + ", got " + std::to_string(num_output));
        require(ctx, l, kw > 0 && kh > 0 && kw <= kMaxKernel && kh <= kMaxKernel, "kernel size (1=, 11=) must be positive, got " + std::to_string(kw) + "x" + std::to_string(kh));
        require(ctx, l, dw > 0 && dh > 0 && dw <= kMaxKernel && dh <= kMaxKernel, "dilation (2=, 12=) must be positive");
        require(ctx, l, sw > 0 && sh > 0 && sw <= kMaxKernel && sh <= kMaxKernel, "stride (3=, 13=) must be positive");
        require(ctx, l, dynamic_weight == 0, "dynamic weights (19=1) are not supported");
        for (int id : {4, 14, 15, 16})
        {
            const long long pad = get_int(ctx, l, id, 0);
            require(ctx, l, pad == -233 || pad == -234 || (pad >= 0 && pad <= kMaxKernel), "padding (" + std::to_string(id) + "=) must be 0.." + std::to_string(kMaxKernel) + " or -233/-234 (SAME)");
        }
        require(ctx, l, group > 0 && num_output % group == 0, "group (7=) must divide num_output");
        const long long maxk = kw * kh;
        require(ctx, l, weight_size > 0 && weight_size <= kMaxWeights && weight_size % (num_output * maxk) == 0,
                "weight_data_size (6=" + std::to_string(weight_size) + ") is not a multiple of num_output x kernel (" + std::to_string(num_output * maxk) + ")");
        // weights: num_output x in/group x maxk (Deconvolution: in x num_output x maxk,
        // the same count), so the input channels follow from the weight count
        const long long in_per_group = weight_size / (num_output * maxk);
        const long long expected_in = t == "ConvolutionDepthWise" ? in_per_group * group : in_per_group;
        if (c0 != kUnknown)
            require(ctx, l, c0 == expected_in, "weights expect " + std::to_string(expected_in) + " input channels but the input blob has " + std::to_string(c0));
        require(ctx, l, int8_term == 0 || int8_term == 1 || int8_term == 2 || int8_term == 101 || int8_term == 102, "int8_scale_term (8=) must be 0, 1, 2, 101 or 102");
        require(ctx, l, t != "Deconvolution" || int8_term == 0, "int8 deconvolution is not supported");

        bin.tagged(l, weight_size, "weights");
        if (bias_term)
            bin.raw(l, num_output, "bias");
        if (int8_term)
        {
            long long weight_scales = num_output;
            if (t == "ConvolutionDepthWise")
                weight_scales = (int8_term == 2 || int8_term == 102) ? 1 : group;
            bin.raw(l, weight_scales, "int8 weight scales");
            bin.raw(l, 1, "int8 input scale");
            if (int8_term > 100)
                bin.raw(l, 1, "int8 output scale");
        }
        return (int)num_output;
    }
    if (t == "InnerProduct")
    {
        const long long num_output = get_int(ctx, l, 0, 0);
        const long long bias_term = get_int(ctx, l, 1, 0);
        const long long weight_size = get_int(ctx, l, 2, 0);
        const long long int8_term = get_int(ctx, l, 8, 0);
        require(ctx, l, num_output > 0 && num_output <= kMaxChannels, "num_output (0=) must be positive");
        require(ctx, l, weight_size > 0 && weight_size <= kMaxWeights && weight_size % num_output == 0, "weight_data_size (2=) is not a multiple of num_output");
        bin.tagged(l, weight_size, "weights");
        if (bias_term)
            bin.raw(l, num_output, "bias");
        if (int8_term)
        {
            bin.raw(l, num_output, "int8 weight scales");
            bin.raw(l, 1, "int8 input scale");
        }
        return kUnknown;
    }
    if (t == "BatchNorm")
    {
        const long long channels = get_int(ctx, l, 0, 0);
        require(ctx, l, channels > 0 && channels <= kMaxChannels, "channels (0=) must be positive");
        if (c0 != kUnknown)
            require(ctx, l, c0 == channels, "has " + std::to_string(channels) + " channels but its input has " + std::to_string(c0));
        for (int i = 0; i < 4; i++)
            bin.raw(l, channels, "statistics");
        return (int)channels;
    }
    if (t == "Scale")
    {
        const long long n = get_int(ctx, l, 0, 0);
        if (n == -233)
            return c0; // scale comes from the second input
        require(ctx, l, n > 0 && n <= kMaxWeights, "scale_data_size (0=) must be positive");
        if (c0 != kUnknown)
            require(ctx, l, n == c0 || n == 1, "has " + std::to_string(n) + " scales but its input has " + std::to_string(c0) + " channels");
        bin.raw(l, n, "scales");
        if (get_int(ctx, l, 1, 0))
            bin.raw(l, n, "bias");
        return c0;
    }
    if (t == "Bias")
    {
        const long long n = get_int(ctx, l, 0, 0);
        require(ctx, l, n > 0 && n <= kMaxWeights, "bias_data_size (0=) must be positive");
        if (c0 != kUnknown)
            require(ctx, l, n == c0, "has " + std::to_string(n) + " biases but its input has " + std::to_string(c0) + " channels");
        bin.raw(l, n, "bias");
        return c0;
    }
    if (t == "PReLU")
    {
        const long long n = get_int(ctx, l, 0, 0);
        require(ctx, l, n > 0 && n <= kMaxChannels, "num_slope (0=) must be positive");
        if (c0 != kUnknown)
            require(ctx, l, n == c0 || n == 1, "has " + std::to_string(n) + " slopes but its input has " + std::to_string(c0) + " channels");
        bin.raw(l, n, "slopes");
        return c0;
    }
    if (t == "MemoryData")
    {
        const long long w = get_int(ctx, l, 0, 0), h = get_int(ctx, l, 1, 0), d = get_int(ctx, l, 11, 0), c = get_int(ctx, l, 2, 0);
        const long long load_type = get_int(ctx, l, 21, 1);
        require(ctx, l, w >= 0 && h >= 0 && d >= 0 && c >= 0 && w <= kMaxWeights && h <= kMaxWeights && d <= kMaxWeights && c <= kMaxWeights, "sizes must be non-negative");
        long long n = (w ? w : 1) * (h ? h : 1) * (d ? d : 1) * (c ? c : 1);
        require(ctx, l, n <= kMaxWeights, "too large");
        require(ctx, l, load_type == 0 || load_type == 1, "load type (21=) must be 0 or 1");
        if (w != 0)
        {
            if (load_type == 1)
                bin.raw(l, n, "data");
            else
                bin.tagged(l, n, "data");
        }
        return c != 0 && d == 0 ? (int)c : kUnknown;
    }
    if (t == "Quantize" || t == "Dequantize" || t == "Requantize")
    {
        // Quantize: 0=scales; Dequantize: 0=scales 1=bias; Requantize: 0=in scales 1=out scales 2=bias
        const long long a = get_int(ctx, l, 0, 1);
        const long long b = get_int(ctx, l, 1, t == "Requantize" ? 1 : 0);
        const long long c = t == "Requantize" ? get_int(ctx, l, 2, 0) : 0;
        require(ctx, l, a > 0 && a <= kMaxChannels && b >= 0 && b <= kMaxChannels && c >= 0 && c <= kMaxChannels, "scale/bias sizes must be 1.." + std::to_string(kMaxChannels));
        bin.raw(l, a, "scales");
        if (t == "Requantize")
        {
            require(ctx, l, b > 0, "output scale size (1=) must be positive");
            bin.raw(l, b, "output scales");
            if (c)
                bin.raw(l, c, "bias");
        }
        else if (b)
            bin.raw(l, b, "bias");
        return c0;
    }
    if (t == "Gemm")
    {
        require(ctx, l, get_int(ctx, l, 4, 0) == 0 && get_int(ctx, l, 5, 0) == 0 && get_int(ctx, l, 6, 0) == 0,
                "Gemm with constant operands is not supported by facedge's model check");
        return kUnknown;
    }
    if (t == "Pooling")
    {
        const long long kw = get_int(ctx, l, 1, 0), kh = get_int(ctx, l, 11, kw);
        const long long sw = get_int(ctx, l, 2, 1), sh = get_int(ctx, l, 12, sw);
        const long long global = get_int(ctx, l, 4, 0);
        for (int id : {3, 13, 14, 15})
        {
            const long long pad = get_int(ctx, l, id, 0);
            require(ctx, l, pad >= 0 && pad <= kMaxKernel, "padding (" + std::to_string(id) + "=) must be 0.." + std::to_string(kMaxKernel));
        }
        if (!global)
        {
            require(ctx, l, kw > 0 && kh > 0 && kw <= kMaxKernel && kh <= kMaxKernel, "kernel size (1=, 11=) must be positive");
            require(ctx, l, sw > 0 && sh > 0 && sw <= kMaxKernel && sh <= kMaxKernel, "stride (2=, 12=) must be positive");
        }
        return c0;
    }
    if (t == "Padding")
    {
        for (int id : {0, 1, 2, 3, 7, 8})
        {
            const long long p = get_int(ctx, l, id, 0);
            require(ctx, l, p >= 0 && p <= kMaxKernel, "padding (" + std::to_string(id) + "=) must be 0.." + std::to_string(kMaxKernel));
        }
        const long long per_channel = get_int(ctx, l, 6, 0);
        require(ctx, l, per_channel >= 0 && per_channel <= kMaxChannels, "per-channel pad size (6=) must be non-negative");
        if (per_channel)
            bin.raw(l, per_channel, "per-channel pad values");
        const long long front = get_int(ctx, l, 7, 0), behind = get_int(ctx, l, 8, 0);
        return c0 == kUnknown ? kUnknown : (int)(c0 + front + behind);
    }
    if (t == "Permute")
    {
        const long long order = get_int(ctx, l, 0, 0);
        require(ctx, l, order >= 0 && order < 24, "order_type (0=) must be 0..23");
        return kUnknown;
    }
    if (t == "Concat")
    {
        const long long axis = get_int(ctx, l, 0, 0);
        if (axis != 0)
            return c0;
        long long sum = 0;
        for (int c : in_channels)
        {
            if (c == kUnknown)
                return kUnknown;
            sum += c;
        }
        return (int)sum;
    }
    if (t == "Interp")
    {
        const long long resize_type = get_int(ctx, l, 0, 0);
        require(ctx, l, resize_type >= 0 && resize_type <= 3, "resize_type (0=) must be 0..3");
        for (int id : {3, 4})
        {
            const long long v = get_int(ctx, l, id, 0);
            require(ctx, l, v >= 0 && v <= (1 << 14), "output size (" + std::to_string(id) + "=) must be 0..16384");
        }
        return c0;
    }
    if (t == "BinaryOp" || t == "Eltwise")
    {
        int best = kUnknown;
        for (int c : in_channels)
            best = std::max(best, c);
        for (int c : in_channels)
            if (c != kUnknown && c != best && c != 1)
                return kUnknown; // broadcasting along another axis: stop tracking
        return best;
    }
    if (keeps_shape(t))
        return c0;
    return kUnknown; // layout-changing layers (Reshape, Flatten, Slice, ...): stop tracking
}

} // namespace

struct ModelGraph
{
    std::vector<LayerLine> layers;
};

namespace {

// A blob's shape where facedge can follow it: 1-D (w), 2-D (w, h) or 3-D (w, h, c),
// as ncnn lays blobs out without the batch axis.
struct Shape
{
    int dims = 0; // 0: unknown
    long long w = 1, h = 1, c = 1;
    long long total() const { return w * h * c; }
    std::string str() const
    {
        std::string s = std::to_string(w);
        if (dims >= 2)
            s += "x" + std::to_string(h);
        if (dims >= 3)
            s += "x" + std::to_string(c);
        return s;
    }
};

Shape map3(long long w, long long h, long long c)
{
    Shape s;
    s.dims = 3;
    s.w = w;
    s.h = h;
    s.c = c;
    return s;
}

const long long kMaxBlobElements = 1LL << 28; // 1 GiB of floats: no face model comes near

long long conv_out(const Context& ctx, const LayerLine& l, long long in, long long k, long long d, long long s, long long pad_a, long long pad_b, const char* axis)
{
    const long long extent = d * (k - 1) + 1;
    long long out;
    if (pad_a == -233 || pad_a == -234) // SAME padding
        out = (in + s - 1) / s;
    else
        out = (in + pad_a + pad_b - extent) / s + 1;
    if (pad_a != -233 && pad_a != -234 && in + pad_a + pad_b < extent)
        out = 0;
    require(ctx, l, out >= 1, std::string("its window (") + std::to_string(extent) + ") does not fit the input " + axis + " (" + std::to_string(in) + " plus padding)");
    return out;
}

long long axis_of(const Context& ctx, const LayerLine& l, int id, int dims)
{
    const long long axis = get_int(ctx, l, id, 0);
    require(ctx, l, axis >= -dims && axis < dims, "axis (" + std::to_string(id) + "=" + std::to_string(axis) + ") out of range for a " + std::to_string(dims) + "-D input");
    return axis < 0 ? axis + dims : axis;
}

Shape infer_shape(const Context& ctx, const LayerLine& l, const std::vector<Shape>& in)
{
    const std::string& t = l.type;
    Shape out;
    for (const Shape& s : in)
        if (s.dims == 0)
            return out;
    if (in.empty())
        return out;
    const Shape& a = in[0];
    if ((t == "Convolution" || t == "ConvolutionDepthWise" || t == "Pooling" || t == "Padding" || t == "Interp") && a.dims != 3)
        return out; // facedge follows these on feature maps only
    if (t == "Convolution" || t == "ConvolutionDepthWise")
    {
        const long long kw = get_int(ctx, l, 1, 0), kh = get_int(ctx, l, 11, kw);
        const long long dw = get_int(ctx, l, 2, 1), dh = get_int(ctx, l, 12, dw);
        const long long sw = get_int(ctx, l, 3, 1), sh = get_int(ctx, l, 13, sw);
        const long long pl = get_int(ctx, l, 4, 0), pr = get_int(ctx, l, 15, pl);
        const long long pt = get_int(ctx, l, 14, pl), pb = get_int(ctx, l, 16, pt);
        const long long ow = conv_out(ctx, l, a.w, kw, dw, sw, pl, pr, "width"); // width first: a stable message
        const long long oh = conv_out(ctx, l, a.h, kh, dh, sh, pt, pb, "height");
        out = map3(ow, oh, get_int(ctx, l, 0, 0));
    }
    else if (t == "Pooling")
    {
        if (get_int(ctx, l, 4, 0)) // global pooling: a vector, no longer a map
            return out;
        const long long kw = get_int(ctx, l, 1, 0), kh = get_int(ctx, l, 11, kw);
        const long long sw = get_int(ctx, l, 2, 1), sh = get_int(ctx, l, 12, sw);
        const long long pl = get_int(ctx, l, 3, 0), pr = get_int(ctx, l, 14, pl);
        const long long pt = get_int(ctx, l, 13, pl), pb = get_int(ctx, l, 15, pt);
        const long long mode = get_int(ctx, l, 5, 0);
        auto pool_out = [&](long long n, long long k, long long s, long long p0, long long p1, const char* axis) {
            if (mode == 2 || mode == 3)
                return (n + s - 1) / s;
            require(ctx, l, n + p0 + p1 >= k, std::string("its window does not fit the input ") + axis);
            long long o = (n + p0 + p1 - k) / s + 1;
            if (mode == 0 && (n + p0 + p1 - k) % s != 0)
                o++; // "full" mode rounds up
            return o;
        };
        const long long ow = pool_out(a.w, kw, sw, pl, pr, "width");
        const long long oh = pool_out(a.h, kh, sh, pt, pb, "height");
        out = map3(ow, oh, a.c);
    }
    else if (t == "Padding")
    {
        out = map3(a.w + get_int(ctx, l, 2, 0) + get_int(ctx, l, 3, 0), a.h + get_int(ctx, l, 0, 0) + get_int(ctx, l, 1, 0),
                   a.c + get_int(ctx, l, 7, 0) + get_int(ctx, l, 8, 0));
    }
    else if (t == "Interp")
    {
        if (in.size() > 1)
        {
            if (in[1].dims != 3)
                return out;
            out = map3(in[1].w, in[1].h, a.c);
        }
        else
        {
            const long long ow = get_int(ctx, l, 4, 0), oh = get_int(ctx, l, 3, 0);
            auto scale = [&](int id) {
                auto it = l.params.find(id);
                return it == l.params.end() || it->second.is_array ? 1.0 : it->second.values[0];
            };
            const double hs = scale(1), ws = scale(2);
            require(ctx, l, hs > 0 && ws > 0 && hs <= 64 && ws <= 64, "scales (1=, 2=) must be in (0, 64]");
            out = map3(ow ? ow : (long long)(a.w * ws), oh ? oh : (long long)(a.h * hs), a.c);
        }
    }
    else if (t == "Concat")
    {
        const long long ax = axis_of(ctx, l, 0, a.dims);
        out = a;
        for (size_t i = 1; i < in.size(); i++)
        {
            const Shape& b = in[i];
            // the concatenated axis, counted from the outermost: (c, h, w) for 3-D
            long long* grow = nullptr;
            bool fits = b.dims == a.dims;
            if (a.dims == 1)
                grow = &out.w;
            else if (a.dims == 2)
            {
                fits = fits && (ax == 0 ? b.w == a.w : b.h == a.h);
                grow = ax == 0 ? &out.h : &out.w;
            }
            else
            {
                fits = fits && (ax == 0 ? (b.w == a.w && b.h == a.h) : ax == 1 ? (b.w == a.w && b.c == a.c) : (b.h == a.h && b.c == a.c));
                grow = ax == 0 ? &out.c : ax == 1 ? &out.h : &out.w;
            }
            require(ctx, l, fits, "joins inputs of shapes " + a.str() + " and " + b.str() + " along axis " + std::to_string(ax));
            *grow += a.dims == 1 ? b.w : (a.dims == 2 ? (ax == 0 ? b.h : b.w) : (ax == 0 ? b.c : ax == 1 ? b.h : b.w));
        }
    }
    else if (t == "BinaryOp" || t == "Eltwise")
    {
        out = a;
        for (size_t i = 1; i < in.size(); i++)
        {
            const Shape& b = in[i];
            if (b.dims != a.dims)
                return Shape(); // broadcasting across ranks: not followed
            auto dim = [&](long long x, long long y, const char* what) {
                require(ctx, l, x == y || (t == "BinaryOp" && (x == 1 || y == 1)),
                        std::string("combines inputs whose ") + what + " differ (" + std::to_string(x) + " vs " + std::to_string(y) + ")");
                return std::max(x, y);
            };
            out.w = dim(out.w, b.w, "widths");
            out.h = dim(out.h, b.h, "heights");
            out.c = dim(out.c, b.c, "channel counts");
        }
    }
    else if (t == "Permute")
    {
        const long long order = get_int(ctx, l, 0, 0);
        if (a.dims == 2)
        {
            require(ctx, l, order == 0 || order == 1, "order_type (0=) must be 0 or 1 for a 2-D input");
            out = a;
            if (order == 1)
                std::swap(out.w, out.h);
        }
        else if (a.dims == 3)
        {
            require(ctx, l, order >= 0 && order <= 5, "order_type (0=) must be 0..5 for a 3-D input");
            // output (w, h, c) in terms of the input's axes
            const long long w = a.w, h = a.h, c = a.c;
            const long long table[6][3] = {{w, h, c}, {h, w, c}, {w, c, h}, {c, w, h}, {h, c, w}, {c, h, w}};
            out = map3(table[order][0], table[order][1], table[order][2]);
        }
        else
            out = a;
    }
    else if (t == "Reshape")
    {
        require(ctx, l, !l.params.count(6) && !l.params.count(11), "shape expressions and 4-D reshapes are not supported");
        const long long pw = get_int(ctx, l, 0, -233), ph = get_int(ctx, l, 1, -233), pc = get_int(ctx, l, 2, -233);
        const int ndim = pw == -233 ? 0 : ph == -233 ? 1 : pc == -233 ? 2 : 3;
        require(ctx, l, ndim >= 1, "needs at least a width (0=)");
        long long v[3] = {pw, ph, pc};
        const long long src[3] = {a.w, a.h, a.c};
        int unknown = -1;
        long long product = 1;
        for (int i = 0; i < ndim; i++)
        {
            require(ctx, l, v[i] >= -1 && v[i] <= kMaxBlobElements, "sizes must be -1, 0 or positive");
            if (v[i] == 0)
                v[i] = src[i];
            if (v[i] == -1)
            {
                require(ctx, l, unknown < 0, "only one size may be -1");
                unknown = i;
            }
            else
                product *= v[i];
        }
        if (unknown >= 0)
        {
            require(ctx, l, product > 0 && a.total() % product == 0, "cannot reshape " + a.str() + " into the requested sizes");
            v[unknown] = a.total() / product;
            product *= v[unknown];
        }
        require(ctx, l, product == a.total(), "cannot reshape " + a.str() + " (" + std::to_string(a.total()) + " values) into " + std::to_string(product));
        out.dims = ndim;
        out.w = v[0];
        out.h = ndim >= 2 ? v[1] : 1;
        out.c = ndim >= 3 ? v[2] : 1;
    }
    else if (t == "Flatten")
    {
        out.dims = 1;
        out.w = a.total();
    }
    else if (t == "Softmax")
    {
        axis_of(ctx, l, 0, a.dims);
        out = a;
    }
    else
    {
        if (keeps_shape(t))
            return a;
        return out; // anything else: stop following this branch
    }
    require(ctx, l, out.w >= 1 && out.h >= 1 && out.c >= 1, "produces an empty blob");
    require(ctx, l, out.w * out.h <= kMaxBlobElements && out.total() <= kMaxBlobElements, "would produce a " + out.str() + " blob (too large)");
    return out;
}

} // namespace

void check_shapes(const ModelCheckResult& model, const std::string& param_name, const std::string& input_blob, int input_width, int input_height,
                  int input_channels)
{
    if (!model.graph)
        return;
    Context ctx{param_name, ""};
    std::map<std::string, Shape> shapes;
    for (const LayerLine& l : model.graph->layers)
    {
        if (l.type == "Input")
        {
            Shape s;
            if (!l.tops.empty() && l.tops[0] == input_blob)
                s = map3(input_width, input_height, input_channels);
            shapes[l.tops[0]] = s;
            continue;
        }
        std::vector<Shape> in;
        for (const std::string& b : l.bottoms)
            in.push_back(shapes[b]);
        Shape out;
        try
        {
            out = infer_shape(ctx, l, in);
        }
        catch (const Error& e)
        {
            throw Error(std::string(e.what()) + " at input size " + std::to_string(input_width) + "x" + std::to_string(input_height));
        }
        for (size_t k = 0; k < l.tops.size(); k++)
            shapes[l.tops[k]] = (k == 0 || l.type == "Split") ? out : Shape();
    }
}

ModelCheckResult check_model(const std::string& param_text, const std::string& param_name, const unsigned char* bin, size_t bin_size,
                             const std::string& bin_name, const std::string& input_blob, int input_channels)
{
    Context ctx{param_name, bin_name};
    if (param_text.find('\0') != std::string::npos)
        throw Error(param_name + ": not an ncnn .param text file (contains NUL bytes)");

    std::vector<std::pair<int, std::vector<std::string> > > lines;
    {
        std::istringstream is(param_text);
        std::string line;
        int no = 0;
        while (std::getline(is, line))
        {
            no++;
            std::vector<std::string> tokens = split_ws(line);
            if (!tokens.empty())
                lines.push_back({no, tokens});
        }
    }
    if (lines.empty())
        throw Error(param_name + ": empty file (expected an ncnn .param starting with 7767517)");
    if (lines[0].second.size() != 1 || lines[0].second[0] != "7767517")
        throw Error(param_name + ": not an ncnn .param file (first line must be the magic number 7767517)");
    long long layer_count = 0, blob_count = 0;
    if (lines.size() < 2 || lines[1].second.size() != 2 || !parse_int(lines[1].second[0], layer_count) || !parse_int(lines[1].second[1], blob_count)
            || layer_count <= 0 || blob_count <= 0 || layer_count > kMaxCount || blob_count > kMaxCount)
        fail_param(ctx, lines.size() < 2 ? 2 : lines[1].first, "expected 'layer_count blob_count' (two positive numbers)");
    if ((long long)lines.size() - 2 != layer_count)
        throw Error(param_name + ": header says " + std::to_string(layer_count) + " layers but the file has " + std::to_string(lines.size() - 2)
                    + " layer lines (truncated or edited?)");

    ModelCheckResult result;
    auto graph = std::make_shared<ModelGraph>();
    result.layer_count = (int)layer_count;
    result.blob_count = (int)blob_count;

    BinCursor cursor(ctx, bin, bin_size);
    std::map<std::string, int> blob_channels; // produced blobs -> channel count (or kUnknown)
    std::set<std::string> consumed, layer_names;
    bool has_input_blob = false;
    for (size_t i = 2; i < lines.size(); i++)
    {
        LayerLine l = parse_layer(ctx, lines[i].second, lines[i].first);
        if (ncnn::layer_to_index(l.type.c_str()) < 0)
            fail_layer(ctx, l, "unknown layer type '" + l.type + "' (not an ncnn layer, or one facedge's ncnn build leaves out)");
        if (!layer_names.insert(l.name).second)
            fail_layer(ctx, l, "duplicate layer name");
        std::vector<int> in_channels;
        for (const std::string& b : l.bottoms)
        {
            auto it = blob_channels.find(b);
            if (it == blob_channels.end())
                fail_layer(ctx, l, "input blob '" + b + "' is not produced by any earlier layer");
            if (!consumed.insert(b).second)
                fail_layer(ctx, l, "blob '" + b + "' is consumed twice (ncnn needs a Split layer)");
            in_channels.push_back(it->second);
        }
        if (l.type == "Input")
        {
            require(ctx, l, l.bottoms.empty() && l.tops.size() == 1, "an Input layer has no inputs and one output");
            const long long c = get_int(ctx, l, 2, 0);
            int channels = c > 0 ? (int)c : kUnknown;
            if (l.tops[0] == input_blob)
            {
                has_input_blob = true;
                if (channels != kUnknown && channels != input_channels)
                    fail_layer(ctx, l, "declares " + std::to_string(channels) + " input channels, expected " + std::to_string(input_channels));
                channels = input_channels;
            }
            blob_channels[l.tops[0]] = channels;
            result.layer_types.push_back(l.type);
            graph->layers.push_back(l);
            continue;
        }
        const int out_c = check_layer(ctx, l, cursor, in_channels);
        if ((l.type == "Convolution" || l.type == "ConvolutionDepthWise" || l.type == "InnerProduct") && get_int(ctx, l, 8, 0) != 0)
            result.int8_layer_count++;
        for (size_t k = 0; k < l.tops.size(); k++)
        {
            if (blob_channels.count(l.tops[k]))
                fail_layer(ctx, l, "output blob '" + l.tops[k] + "' is already produced by another layer");
            // Split and Slice-free layers give every output the same channel count
            blob_channels[l.tops[k]] = (k == 0 || l.type == "Split") ? out_c : kUnknown;
        }
        result.layer_types.push_back(l.type);
        graph->layers.push_back(l);
    }
    if ((long long)blob_channels.size() != blob_count)
        throw Error(param_name + ": header says " + std::to_string(blob_count) + " blobs but the layers name " + std::to_string(blob_channels.size()));
    if (!has_input_blob)
        throw Error(param_name + ": no Input layer produces the input blob '" + input_blob + "'");
    if (cursor.position() != bin_size)
        throw Error(bin_name + ": " + std::to_string(bin_size - cursor.position()) + " bytes left over after the last layer's weights ("
                    + std::to_string(cursor.position()) + " of " + std::to_string(bin_size) + " used): the .bin of another .param?");
    for (const auto& kv : blob_channels)
        result.blob_names.push_back(kv.first);
    result.bin_bytes_used = cursor.position();
    result.graph = graph;
    return result;
}

} // namespace facedge
