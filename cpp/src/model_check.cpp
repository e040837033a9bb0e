#include "facedge/model_check.h"

#include <algorithm>
#include <map>
#include <set>

#include "facedge/error.h"
#include "facedge/ncnn_weights.h"

#include "layer.h" // ncnn::layer_to_index: which layer types this ncnn build has

namespace facedge {
namespace {

const long long kAny = -1; // an extent not known here: the input's width and height while the model loads
const long long kMaxChannels = 1 << 16;
const long long kMaxKernel = 1 << 10;
const long long kMaxWeights = 1LL << 28;
const long long kMaxBlobElements = 1LL << 28; // 1 GiB of floats: no face model comes near

// A blob's shape as far as it is known: 1-D (w), 2-D (w, h) or 3-D (w, h, c), as ncnn
// lays blobs out without the batch axis; any extent may be kAny.
struct Shape
{
    int dims = 0; // 0: nothing known
    long long w = 1, h = 1, c = 1;
    bool known() const { return dims && w != kAny && h != kAny && c != kAny; }
    std::string str() const
    {
        auto s = [](long long v) { return v == kAny ? std::string("?") : std::to_string(v); };
        return s(w) + (dims >= 2 ? "x" + s(h) : "") + (dims >= 3 ? "x" + s(c) : "");
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

// A feature map of which only the channel count is followed (kAny: nothing is).
Shape channels_only(long long c)
{
    return c == kAny ? Shape() : map3(kAny, kAny, c);
}

long long channels(const Shape& s)
{
    return s.dims == 3 ? s.c : kAny;
}

long long plus(long long a, long long b)
{
    return a == kAny || b == kAny ? kAny : a + b;
}

void require(const NcnnLayer& l, bool ok, const std::string& what)
{
    if (!ok)
        l.fail(what);
}

// The parameter must lie in lo..hi; `what` names it in the message.
long long ranged(const NcnnLayer& l, int id, long long def, long long lo, long long hi, const std::string& what)
{
    const long long v = l.get_int(id, def);
    require(l, v >= lo && v <= hi, what + " (" + std::to_string(id) + "=) must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
    return v;
}

// The layers whose output has their first input's shape (and so its channel count).
bool keeps_shape(const std::string& type)
{
    static const std::set<std::string> types = {
        "ReLU", "Sigmoid", "Clip", "HardSwish", "HardSigmoid", "Swish", "Mish", "ELU", "TanH", "AbsVal", "Exp", "Log", "Power",
        "UnaryOp", "Dropout", "Noop", "Split", "ShuffleChannel", "Cast", "Packing", "Softmax"};
    return types.count(type) != 0;
}

// One output extent of a sliding window over `in` (kAny stays kAny).
long long window_out(const NcnnLayer& l, long long in, long long extent, long long stride, long long pad_a, long long pad_b, const char* axis)
{
    if (in == kAny)
        return kAny;
    if (pad_a == -233 || pad_a == -234) // SAME padding
        return (in + stride - 1) / stride;
    require(l, in + pad_a + pad_b >= extent,
            std::string("its window (") + std::to_string(extent) + ") does not fit the input " + axis + " (" + std::to_string(in) + " plus padding)");
    return (in + pad_a + pad_b - extent) / stride + 1;
}

Shape convolution(const NcnnLayer& l, const Shape& a)
{
    const std::string& t = l.type;
    const long long num_output = ranged(l, 0, 0, 1, kMaxChannels, "num_output");
    const long long kw = l.get_int(1, 0), kh = l.get_int(11, kw);
    const long long dw = l.get_int(2, 1), dh = l.get_int(12, dw);
    const long long sw = l.get_int(3, 1), sh = l.get_int(13, sw);
    require(l, kw > 0 && kh > 0 && kw <= kMaxKernel && kh <= kMaxKernel, "kernel size (1=, 11=) must be positive, got " + std::to_string(kw) + "x" + std::to_string(kh));
    require(l, dw > 0 && dh > 0 && dw <= kMaxKernel && dh <= kMaxKernel, "dilation (2=, 12=) must be positive");
    require(l, sw > 0 && sh > 0 && sw <= kMaxKernel && sh <= kMaxKernel, "stride (3=, 13=) must be positive");
    require(l, l.get_int(19, 0) == 0, "dynamic weights (19=1) are not supported");
    const long long pl = l.get_int(4, 0), pr = l.get_int(15, pl), pt = l.get_int(14, pl), pb = l.get_int(16, pt);
    for (long long p : {pl, pr, pt, pb})
        require(l, p == -233 || p == -234 || (p >= 0 && p <= kMaxKernel), "padding (4=, 14=, 15=, 16=) must be 0.." + std::to_string(kMaxKernel) + " or -233/-234 (SAME)");
    const long long group = t == "ConvolutionDepthWise" ? l.get_int(7, 1) : 1;
    require(l, group > 0 && num_output % group == 0, "group (7=) must divide num_output");
    const long long weight_size = l.get_int(6, 0), maxk = kw * kh;
    require(l, weight_size > 0 && weight_size <= kMaxWeights && weight_size % (num_output * maxk) == 0,
            "weight_data_size (6=" + std::to_string(weight_size) + ") is not a multiple of num_output x kernel (" + std::to_string(num_output * maxk) + ")");
    const long long int8_term = l.get_int(8, 0);
    require(l, int8_term == 0 || int8_term == 1 || int8_term == 2 || int8_term == 101 || int8_term == 102, "int8_scale_term (8=) must be 0, 1, 2, 101 or 102");
    require(l, t != "Deconvolution" || int8_term == 0, "int8 deconvolution is not supported");
    // weights: num_output x in/group x maxk (Deconvolution: in x num_output x maxk, the
    // same count), so the input channels follow from the weight count
    const long long in_per_group = weight_size / (num_output * maxk);
    const long long expected_in = t == "ConvolutionDepthWise" ? in_per_group * group : in_per_group;
    if (channels(a) != kAny)
        require(l, channels(a) == expected_in, "weights expect " + std::to_string(expected_in) + " input channels but the input blob has " + std::to_string(a.c));
    if (t == "Deconvolution" || a.dims != 3)
        return channels_only(num_output); // facedge follows sizes through convolutions of feature maps only
    const long long ow = window_out(l, a.w, dw * (kw - 1) + 1, sw, pl, pr, "width"); // width first: a stable message
    const long long oh = window_out(l, a.h, dh * (kh - 1) + 1, sh, pt, pb, "height");
    return map3(ow, oh, num_output);
}

Shape pooling(const NcnnLayer& l, const Shape& a)
{
    const long long kw = l.get_int(1, 0), kh = l.get_int(11, kw);
    const long long sw = l.get_int(2, 1), sh = l.get_int(12, sw);
    const long long pl = l.get_int(3, 0), pr = l.get_int(14, pl), pt = l.get_int(13, pl), pb = l.get_int(15, pt);
    for (long long p : {pl, pr, pt, pb})
        require(l, p >= 0 && p <= kMaxKernel, "padding (3=, 13=, 14=, 15=) must be 0.." + std::to_string(kMaxKernel));
    if (l.get_int(4, 0)) // global pooling: a vector of the channels
        return channels_only(channels(a));
    require(l, kw > 0 && kh > 0 && kw <= kMaxKernel && kh <= kMaxKernel, "kernel size (1=, 11=) must be positive");
    require(l, sw > 0 && sh > 0 && sw <= kMaxKernel && sh <= kMaxKernel, "stride (2=, 12=) must be positive");
    if (a.dims != 3)
        return Shape();
    const long long mode = l.get_int(5, 0);
    auto out = [&](long long n, long long k, long long s, long long p0, long long p1, const char* axis) {
        if (n == kAny)
            return kAny;
        if (mode == 2 || mode == 3) // SAME-style padding
            return (n + s - 1) / s;
        const long long o = window_out(l, n, k, s, p0, p1, axis);
        return o + (mode == 0 && (n + p0 + p1 - k) % s != 0 ? 1 : 0); // "full" mode rounds up
    };
    return map3(out(a.w, kw, sw, pl, pr, "width"), out(a.h, kh, sh, pt, pb, "height"), a.c);
}

long long axis_of(const NcnnLayer& l, int id, int dims)
{
    const long long axis = l.get_int(id, 0);
    require(l, axis >= -dims && axis < dims, "axis (" + std::to_string(id) + "=" + std::to_string(axis) + ") out of range for a " + std::to_string(dims) + "-D input");
    return axis < 0 ? axis + dims : axis;
}

Shape concat(const NcnnLayer& l, const std::vector<Shape>& in)
{
    for (const Shape& s : in)
        if (s.dims == 0) // along the channels nothing is known; along another axis, the first input's
            return l.get_int(0, 0) == 0 ? Shape() : channels_only(channels(in[0]));
    const Shape& a = in[0];
    const long long ax = axis_of(l, 0, a.dims);
    // the joined axis, counted from the outermost: (c, h, w) for 3-D
    const int joined = a.dims == 1 ? 0 : a.dims == 2 ? (ax == 0 ? 1 : 0) : (ax == 0 ? 2 : ax == 1 ? 1 : 0); // index into (w, h, c)
    Shape out = a;
    long long* o[3] = {&out.w, &out.h, &out.c};
    for (size_t i = 1; i < in.size(); i++)
    {
        const Shape& b = in[i];
        const long long av[3] = {a.w, a.h, a.c}, bv[3] = {b.w, b.h, b.c};
        bool fits = b.dims == a.dims;
        for (int k = 0; k < a.dims && fits; k++)
            fits = k == joined || av[k] == kAny || bv[k] == kAny || av[k] == bv[k];
        require(l, fits, "joins inputs of shapes " + a.str() + " and " + b.str() + " along axis " + std::to_string(ax));
        *o[joined] = plus(*o[joined], bv[joined]);
    }
    return out;
}

Shape elementwise(const NcnnLayer& l, const std::vector<Shape>& in)
{
    const bool broadcasts = l.type == "BinaryOp";
    // one extent of the result; kAny where it depends on an unknown one
    auto dim = [&](long long x, long long y, const char* what) {
        if (x == kAny || y == kAny)
        {
            const long long k = x == kAny ? y : x;
            return broadcasts && k == 1 ? kAny : k;
        }
        require(l, x == y || (broadcasts && (x == 1 || y == 1)),
                std::string("combines inputs whose ") + what + " differ (" + std::to_string(x) + " vs " + std::to_string(y) + ")");
        return std::max(x, y);
    };
    bool same_rank = true;
    for (const Shape& s : in)
        same_rank = same_rank && s.dims != 0 && s.dims == in[0].dims;
    if (!same_rank)
    {
        // broadcasting across ranks is not followed; the channels of 3-D inputs are
        long long c = kAny;
        for (const Shape& s : in)
            if (channels(s) != kAny)
            {
                if (c != kAny && c != channels(s) && c != 1 && channels(s) != 1)
                    return Shape();
                c = c == kAny || c == 1 ? channels(s) : c;
            }
        return channels_only(c);
    }
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); i++)
    {
        out.w = dim(out.w, in[i].w, "widths");
        out.h = dim(out.h, in[i].h, "heights");
        out.c = dim(out.c, in[i].c, "channel counts");
    }
    return out;
}

Shape permute(const NcnnLayer& l, const Shape& a)
{
    const long long order = ranged(l, 0, 0, 0, 23, "order_type");
    if (a.dims == 2)
    {
        require(l, order <= 1, "order_type (0=) must be 0 or 1 for a 2-D input");
        Shape out = a;
        if (order == 1)
            std::swap(out.w, out.h);
        return out;
    }
    if (a.dims != 3)
        return a.dims == 1 ? a : Shape();
    require(l, order <= 5, "order_type (0=) must be 0..5 for a 3-D input");
    // the output's (w, h, c) in terms of the input's axes
    const long long w = a.w, h = a.h, c = a.c;
    const long long table[6][3] = {{w, h, c}, {h, w, c}, {w, c, h}, {c, w, h}, {h, c, w}, {c, h, w}};
    return map3(table[order][0], table[order][1], table[order][2]);
}

Shape reshape(const NcnnLayer& l, const Shape& a)
{
    require(l, !l.find(6) && !l.find(11), "shape expressions and 4-D reshapes are not supported");
    long long v[3] = {l.get_int(0, -233), l.get_int(1, -233), l.get_int(2, -233)};
    const int ndim = v[0] == -233 ? 0 : v[1] == -233 ? 1 : v[2] == -233 ? 2 : 3;
    require(l, ndim >= 1, "needs at least a width (0=)");
    int unknown = -1;
    for (int i = 0; i < ndim; i++)
    {
        require(l, v[i] >= -1 && v[i] <= kMaxBlobElements, "sizes must be -1, 0 or positive");
        require(l, v[i] != -1 || unknown < 0, "only one size may be -1");
        if (v[i] == -1)
            unknown = i;
    }
    if (!a.known())
        return Shape();
    const long long src[3] = {a.w, a.h, a.c}, total = a.w * a.h * a.c;
    long long product = 1;
    for (int i = 0; i < ndim; i++)
    {
        if (v[i] == 0)
            v[i] = src[i];
        if (v[i] != -1)
            product *= v[i];
    }
    if (unknown >= 0)
    {
        require(l, product > 0 && total % product == 0, "cannot reshape " + a.str() + " into the requested sizes");
        v[unknown] = total / product;
        product *= v[unknown];
    }
    require(l, product == total, "cannot reshape " + a.str() + " (" + std::to_string(total) + " values) into " + std::to_string(product));
    Shape out;
    out.dims = ndim;
    out.w = v[0];
    out.h = ndim >= 2 ? v[1] : 1;
    out.c = ndim >= 3 ? v[2] : 1;
    return out;
}

Shape interp(const NcnnLayer& l, const std::vector<Shape>& in)
{
    ranged(l, 0, 0, 0, 3, "resize_type");
    const long long oh = ranged(l, 3, 0, 0, 1 << 14, "output height"), ow = ranged(l, 4, 0, 0, 1 << 14, "output width");
    const Shape& a = in[0];
    if (in.size() > 1) // the size of the second input
        return a.dims == 3 && in[1].dims == 3 ? map3(in[1].w, in[1].h, a.c) : channels_only(channels(a));
    auto scale = [&](int id) {
        const NcnnParam* p = l.find(id);
        return !p || p->is_array ? 1.0 : p->values[0];
    };
    const double hs = scale(1), ws = scale(2);
    require(l, hs > 0 && ws > 0 && hs <= 64 && ws <= 64, "scales (1=, 2=) must be in (0, 64]");
    if (a.dims != 3)
        return Shape();
    return map3(ow ? ow : a.w == kAny ? kAny : (long long)(a.w * ws), oh ? oh : a.h == kAny ? kAny : (long long)(a.h * hs), a.c);
}

// The one layer table: checks a layer's parameters (and that its weights fit its
// input channels) and gives its first output's shape from its inputs' shapes. Layers
// not here end the pass along their branch.
Shape layer_output(const NcnnLayer& l, const std::vector<Shape>& in)
{
    const std::string& t = l.type;
    const Shape a = in.empty() ? Shape() : in[0];
    const long long c0 = channels(a);
    auto with_channels = [&](long long c) { return a.dims == 3 ? map3(a.w, a.h, c) : a.dims == 0 ? channels_only(c) : a; };
    if (t == "Convolution" || t == "ConvolutionDepthWise" || t == "Deconvolution")
        return convolution(l, a);
    if (t == "InnerProduct")
    {
        const long long num_output = ranged(l, 0, 0, 1, kMaxChannels, "num_output");
        const long long weight_size = l.get_int(2, 0);
        require(l, weight_size > 0 && weight_size <= kMaxWeights && weight_size % num_output == 0, "weight_data_size (2=) is not a multiple of num_output");
        return Shape();
    }
    if (t == "BatchNorm")
    {
        const long long n = ranged(l, 0, 0, 1, kMaxChannels, "channels");
        require(l, c0 == kAny || c0 == n, "has " + std::to_string(n) + " channels but its input has " + std::to_string(c0));
        return with_channels(n);
    }
    if (t == "Scale" || t == "Bias" || t == "PReLU")
    {
        const long long n = l.get_int(0, 0);
        if (t == "Scale" && n == -233)
            return a; // the scales come from the second input
        require(l, n > 0 && n <= kMaxWeights, "its size (0=) must be positive");
        require(l, c0 == kAny || n == c0 || (n == 1 && t != "Bias"),
                "has " + std::to_string(n) + " values but its input has " + std::to_string(c0) + " channels");
        return a;
    }
    if (t == "MemoryData")
    {
        long long n = 1;
        for (int id : {0, 1, 11, 2})
        {
            n *= std::max(1LL, ranged(l, id, 0, 0, kMaxWeights, "size"));
            require(l, n <= kMaxWeights, "too large");
        }
        ranged(l, 21, 1, 0, 1, "load type");
        return l.get_int(11, 0) == 0 ? channels_only(l.get_int(2, 0) ? l.get_int(2, 0) : kAny) : Shape();
    }
    if (t == "Quantize" || t == "Dequantize" || t == "Requantize")
    {
        ranged(l, 0, 1, 1, kMaxChannels, "scale size");
        const bool requantize = t == "Requantize";
        ranged(l, 1, requantize ? 1 : 0, requantize ? 1 : 0, kMaxChannels, requantize ? "output scale size" : "bias size");
        if (requantize)
            ranged(l, 2, 0, 0, kMaxChannels, "bias size");
        return a;
    }
    if (t == "Gemm")
    {
        require(l, l.get_int(4, 0) == 0 && l.get_int(5, 0) == 0 && l.get_int(6, 0) == 0, "Gemm with constant operands is not supported by facedge's model check");
        return Shape();
    }
    if (t == "Pooling")
        return pooling(l, a);
    if (t == "Padding")
    {
        long long p[6]; // top, bottom, left, right, front, behind
        const int ids[6] = {0, 1, 2, 3, 7, 8};
        for (int i = 0; i < 6; i++)
            p[i] = ranged(l, ids[i], 0, 0, kMaxKernel, "padding");
        ranged(l, 6, 0, 0, kMaxChannels, "per-channel pad size");
        return a.dims == 3 ? map3(plus(a.w, p[2] + p[3]), plus(a.h, p[0] + p[1]), plus(a.c, p[4] + p[5])) : Shape();
    }
    if (t == "Concat" || t == "BinaryOp" || t == "Eltwise" || t == "Interp")
        require(l, !in.empty(), "has no input"); // ncnn would read past its list of inputs
    if (t == "Concat")
        return concat(l, in);
    if (t == "BinaryOp" || t == "Eltwise")
        return elementwise(l, in);
    if (t == "Permute")
        return permute(l, a);
    if (t == "Reshape")
        return reshape(l, a);
    if (t == "Interp")
        return interp(l, in);
    if (t == "Flatten")
    {
        if (!a.known())
            return Shape();
        Shape out;
        out.dims = 1;
        out.w = a.w * a.h * a.c;
        return out;
    }
    if (t == "Softmax" && a.dims)
        axis_of(l, 0, a.dims);
    return keeps_shape(t) && !in.empty() ? a : Shape();
}

void check_extents(const NcnnLayer& l, const Shape& s)
{
    if (!s.dims)
        return;
    for (long long v : {s.w, s.h, s.c})
        require(l, v == kAny || v >= 1, "produces an empty blob");
    const long long wh = s.w == kAny || s.h == kAny ? 0 : s.w * s.h;
    require(l, wh <= kMaxBlobElements && (!s.known() || wh * s.c <= kMaxBlobElements), "would produce a " + s.str() + " blob (too large)");
}

// The one shape pass: the input blob gets `input`, other Input layers their declared
// channels, and every layer its rule's output.
void follow_shapes(const NcnnParamFile& param, const std::string& input_blob, const Shape& input)
{
    std::map<std::string, Shape> shapes;
    for (const NcnnLayer& l : param.layers)
    {
        std::vector<Shape> in;
        for (const std::string& b : l.bottoms)
            in.push_back(shapes[b]);
        Shape out;
        if (l.type == "Input")
            out = l.tops[0] == input_blob ? input : channels_only(l.get_int(2, 0) > 0 ? l.get_int(2, 0) : kAny);
        else
            out = layer_output(l, in);
        check_extents(l, out);
        for (size_t k = 0; k < l.tops.size(); k++)
            shapes[l.tops[k]] = (k == 0 || l.type == "Split") ? out : Shape();
    }
}

// Blob names, counts and layer types: what ncnn's graph needs to be well formed.
void check_graph(const NcnnParamFile& param, const std::string& input_blob, int input_channels, ModelCheckResult& result)
{
    std::set<std::string> produced, consumed, layer_names;
    bool has_input_blob = false;
    for (const NcnnLayer& l : param.layers)
    {
        if (ncnn::layer_to_index(l.type.c_str()) < 0)
            l.fail("unknown layer type '" + l.type + "' (not an ncnn layer, or one facedge's ncnn build leaves out)");
        require(l, layer_names.insert(l.name).second, "duplicate layer name");
        for (const std::string& b : l.bottoms)
        {
            require(l, produced.count(b) != 0, "input blob '" + b + "' is not produced by any earlier layer");
            require(l, consumed.insert(b).second, "blob '" + b + "' is consumed twice (ncnn needs a Split layer)");
        }
        if (l.type == "Input")
        {
            require(l, l.bottoms.empty() && l.tops.size() == 1, "an Input layer has no inputs and one output");
            const long long c = l.get_int(2, 0);
            if (l.tops[0] == input_blob)
            {
                has_input_blob = true;
                require(l, c <= 0 || c == input_channels, "declares " + std::to_string(c) + " input channels, expected " + std::to_string(input_channels));
            }
        }
        for (const std::string& t : l.tops)
            require(l, produced.insert(t).second, "output blob '" + t + "' is already produced by another layer");
        if ((l.type == "Convolution" || l.type == "ConvolutionDepthWise" || l.type == "InnerProduct") && l.get_int(8, 0) != 0)
            result.int8_layer_count++;
        result.layer_types.push_back(l.type);
    }
    if ((long long)produced.size() != param.blob_count)
        throw Error(param.name + ": header says " + std::to_string(param.blob_count) + " blobs but the layers name " + std::to_string(produced.size()));
    if (!has_input_blob)
        throw Error(param.name + ": no Input layer produces the input blob '" + input_blob + "'");
    result.blob_names.assign(produced.begin(), produced.end());
}

} // namespace

ModelCheckResult check_model(const std::string& param_text, const std::string& param_name, const unsigned char* bin, size_t bin_size,
                             const std::string& bin_name, const std::string& input_blob, int input_channels)
{
    auto param = std::make_shared<NcnnParamFile>(parse_param(param_text, param_name));
    ModelCheckResult result;
    result.layer_count = param->layer_count;
    result.blob_count = param->blob_count;
    check_graph(*param, input_blob, input_channels, result);
    follow_shapes(*param, input_blob, map3(kAny, kAny, input_channels));
    // ncnn's loader refuses most of a short .bin itself, but not the int8 scales it
    // loads after a layer's weights (Convolution::load_model never checks them) nor
    // Padding's per-channel values: the reader's walk covers every layer.
    locate_weights(*param, bin, bin_size, bin_name);
    result.bin_bytes_used = bin_size;
    result.param = param;
    return result;
}

void check_shapes(const ModelCheckResult& model, const std::string& input_blob, int input_width, int input_height, int input_channels)
{
    if (!model.param)
        return;
    try
    {
        follow_shapes(*model.param, input_blob, map3(input_width, input_height, input_channels));
    }
    catch (const Error& e)
    {
        throw Error(std::string(e.what()) + " at input size " + std::to_string(input_width) + "x" + std::to_string(input_height));
    }
}

} // namespace facedge
