#include <cstring>

#include "facedge/error.h"
#include "facedge/model_check.h"
#include "test.h"

using namespace facedge;

// Input(3 ch) -> Convolution 3->4, 3x3, bias -> ReLU -> ConvolutionDepthWise 4 -> out
static const char* kParam =
    "7767517\n"
    "4 4\n"
    "Input in0 0 1 in0\n"
    "Convolution conv0 1 1 in0 c0 0=4 1=3 4=1 5=1 6=108\n"
    "ReLU relu0 1 1 c0 r0\n"
    "ConvolutionDepthWise dw0 1 1 r0 out0 0=4 1=3 4=1 5=0 6=36 7=4\n";

static std::vector<unsigned char> bin_for(size_t conv_weights, size_t bias, size_t dw_weights)
{
    std::vector<unsigned char> bin;
    auto put_tagged = [&](size_t n) {
        bin.insert(bin.end(), 4, 0); // raw fp32 tag
        bin.insert(bin.end(), n * 4, 0);
    };
    put_tagged(conv_weights);
    bin.insert(bin.end(), bias * 4, 0);
    put_tagged(dw_weights);
    return bin;
}

static ModelCheckResult check(const std::string& param, const std::vector<unsigned char>& bin)
{
    return check_model(param, "m.param", bin.data(), bin.size(), "m.bin", "in0", 3);
}

static std::string replace(std::string s, const std::string& from, const std::string& to)
{
    size_t pos = s.find(from);
    if (pos != std::string::npos)
        s.replace(pos, from.size(), to);
    return s;
}

TEST(valid_model_passes)
{
    ModelCheckResult r = check(kParam, bin_for(108, 4, 36));
    CHECK(r.layer_count == 4 && r.blob_count == 4);
    CHECK(r.bin_bytes_used == (4 + 108 * 4) + 16 + (4 + 36 * 4));
    CHECK(r.layer_types[1] == "Convolution");
    CHECK(r.int8_layer_count == 0);
}

TEST(fp16_and_int8_tagged_weights_are_sized_by_their_tag)
{
    std::vector<unsigned char> bin;
    const uint32_t fp16 = 0x01306B47u, int8 = 0x000D4B38u;
    unsigned char tag[4];
    std::memcpy(tag, &fp16, 4);
    bin.insert(bin.end(), tag, tag + 4);
    bin.insert(bin.end(), 108 * 2, 0);
    bin.insert(bin.end(), 16, 0);
    std::memcpy(tag, &int8, 4);
    bin.insert(bin.end(), tag, tag + 4);
    bin.insert(bin.end(), 36, 0);
    check(kParam, bin); // 108 halves = 216 bytes, 36 int8 = 36 bytes (already 4-aligned)
}

TEST(truncated_bin_names_the_layer)
{
    std::vector<unsigned char> bin = bin_for(108, 4, 36);
    bin.resize(bin.size() - 10);
    CHECK_THROWS_WITH(check(kParam, bin), "m.bin: too short for layer 'dw0' (ConvolutionDepthWise) weight: needs 148 bytes at offset 452 but only 138 remain");
    CHECK_THROWS_WITH(check(kParam, std::vector<unsigned char>()), "too short for layer 'conv0'");
}

TEST(truncated_int8_scales_are_refused)
{
    // ncnn's Convolution::load_model loads its int8 scales without checking they were
    // there, then reads them: the model check must refuse this .bin itself
    const std::string p = replace(kParam, "5=1 6=108", "5=1 6=108 8=2");
    std::vector<unsigned char> bin(4 + 108 * 4 + 4 * 4 + 4 * 4 + 2, 0); // weights, bias, 4 weight scales, half an input scale
    CHECK_THROWS_WITH(check(p, bin), "m.bin: too short for layer 'conv0' (Convolution) input scale: needs 4 bytes at offset 468 but only 2 remain");
}

TEST(bin_of_another_model_is_rejected)
{
    CHECK_THROWS_WITH(check(kParam, bin_for(108, 4, 72)), "m.bin: 144 bytes left over after the last layer");
}

TEST(weights_that_do_not_fit_the_input_channels)
{
    // 72 weights = 4 outputs x 2 inputs x 9: the input has 3 channels
    std::string p = replace(kParam, "6=108", "6=72");
    CHECK_THROWS_WITH(check(p, bin_for(72, 4, 36)), "layer 'conv0' (Convolution): weights expect 2 input channels but the input blob has 3");
    // depthwise weights for 8 groups on 4 channels
    p = replace(kParam, "6=36 7=4", "6=36 7=8");
    CHECK_THROWS_WITH(check(p, bin_for(108, 4, 36)), "group (7=) must divide num_output");
}

TEST(bad_param_text)
{
    CHECK_THROWS_WITH(check("", {}), "m.param: empty file");
    CHECK_THROWS_WITH(check("7767518\n1 1\n", {}), "not an ncnn .param file");
    CHECK_THROWS_WITH(check(replace(kParam, "4 4\n", "5 4\n"), bin_for(108, 4, 36)), "header says 5 layers but the file has 4");
    CHECK_THROWS_WITH(check(replace(kParam, "ReLU relu0", "Frobnicate relu0"), bin_for(108, 4, 36)), "m.param:5: layer 'relu0' (Frobnicate): unknown layer type");
    CHECK_THROWS_WITH(check(replace(kParam, "1 1 c0 r0", "1 1 c9 r0"), bin_for(108, 4, 36)), "input blob 'c9' is not produced by any earlier layer");
    CHECK_THROWS_WITH(check(replace(kParam, "5=1 6=108", "5=1 6=10x8"), bin_for(108, 4, 36)), "bad parameter value '6=10x8'");
    CHECK_THROWS_WITH(check(replace(kParam, "0=4 1=3 4=1 5=1", "0=4 1=0 4=1 5=1"), bin_for(108, 4, 36)), "kernel size (1=, 11=) must be positive");
    CHECK_THROWS_WITH(check(replace(kParam, "0=4 1=3 4=1 5=1", "0=-4 1=3 4=1 5=1"), bin_for(108, 4, 36)), "num_output (0=) must be");
    CHECK_THROWS_WITH(check(replace(kParam, "5=1 6=108", "5=1 40=3 6=108"), bin_for(108, 4, 36)), "parameter id 40 out of range");
    CHECK_THROWS_WITH(check(replace(kParam, "4 4\n", "4 5\n"), bin_for(108, 4, 36)), "header says 5 blobs but the layers name 4");
    std::vector<unsigned char> bin = bin_for(108, 4, 36);
    CHECK_THROWS_WITH(check_model(kParam, "m.param", bin.data(), bin.size(), "m.bin", "data", 3), "no Input layer produces the input blob 'data'");
}

// Input -> two 3x3 convolutions -> Concat: sibling branches must keep the same map size
static const char* kBranches =
    "7767517\n"
    "5 6\n"
    "Input in0 0 1 in0\n"
    "Split sp 1 2 in0 a b\n"
    "Convolution ca 1 1 a ca 0=2 1=3 4=1 6=54\n"
    "Convolution cb 1 1 b cb 0=2 1=3 4=1 6=54\n"
    "Concat cat 2 1 ca cb out 0=0\n";

static std::vector<unsigned char> two_convs()
{
    std::vector<unsigned char> bin;
    for (int i = 0; i < 2; i++)
    {
        bin.insert(bin.end(), 4, 0);
        bin.insert(bin.end(), 54 * 4, 0);
    }
    return bin;
}

TEST(shapes_follow_the_graph_per_input_size)
{
    std::vector<unsigned char> bin = two_convs();
    ModelCheckResult r = check_model(kBranches, "m.param", bin.data(), bin.size(), "m.bin", "in0", 3);
    check_shapes(r, "in0", 320, 240, 3);
    // one branch padded differently: the concat would mix 320x240 and 322x242 maps
    std::string p = replace(kBranches, "cb 0=2 1=3 4=1", "cb 0=2 1=3 4=2");
    r = check_model(p, "m.param", bin.data(), bin.size(), "m.bin", "in0", 3);
    CHECK_THROWS_WITH(check_shapes(r, "in0", 320, 240, 3),
                      "layer 'cat' (Concat): joins inputs of shapes 320x240x2 and 322x242x2 along axis 0 at input size 320x240");
    // a window larger than the input
    p = replace(kBranches, "ca 0=2 1=3 4=1", "ca 0=2 1=3 4=0");
    r = check_model(p, "m.param", bin.data(), bin.size(), "m.bin", "in0", 3);
    CHECK_THROWS_WITH(check_shapes(r, "in0", 2, 2, 3), "its window (3) does not fit the input width (2 plus padding)");
    // an axis past the blob's rank: known from the channels already, before any input size
    p = replace(kBranches, "out 0=0", "out 0=7");
    CHECK_THROWS_WITH(check_model(p, "m.param", bin.data(), bin.size(), "m.bin", "in0", 3), "m.param:7: layer 'cat' (Concat): axis (0=7) out of range for a 3-D input");
}
