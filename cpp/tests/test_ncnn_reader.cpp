#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "facedge/error.h"
#include "facedge/ncnn_param.h"
#include "facedge/ncnn_weights.h"
#include "test.h"

using namespace facedge;

// Input -> Convolution 3->2 (3x3, fp16 weights, bias, int8 scales with a requantized
// output) -> ConvolutionDepthWise (int8, one weight scale) -> InnerProduct (int8) ->
// ReLU with an array parameter; a blank line in between
static const char* kParam =
    "7767517\n"
    "5 5\n"
    "Input            in0   0 1 in0 0=4 1=4 2=3\n"
    "\n"
    "Convolution      conv0 1 1 in0 c0 0=2 1=3 4=1 5=1 6=54 8=102\n"
    "ConvolutionDepthWise dw0 1 1 c0 d0 0=2 1=1 6=2 7=2 8=2\n"
    "InnerProduct     fc0   1 1 d0 f0 0=2 1=0 2=64 8=1\n"
    "ReLU             relu0 1 1 f0 out0 0=1.000000e-01 -23310=2,1.5,-2\n";

static void put_u32(std::vector<unsigned char>& bin, uint32_t v)
{
    unsigned char b[4];
    std::memcpy(b, &v, 4);
    bin.insert(bin.end(), b, b + 4);
}

static void put_floats(std::vector<unsigned char>& bin, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
    {
        uint32_t u;
        std::memcpy(&u, &value, 4);
        put_u32(bin, u);
    }
}

static std::vector<unsigned char> bin_for_kparam()
{
    std::vector<unsigned char> bin;
    put_u32(bin, 0x01306B47u); // conv0 weights: 54 fp16 values of 1.5 (0x3E00)
    for (int i = 0; i < 54; i++)
    {
        bin.push_back(0x00);
        bin.push_back(0x3E);
    }
    put_floats(bin, 2, 0.25f);           // bias
    put_floats(bin, 2, 64.f);            // weight scales (num_output)
    put_floats(bin, 1, 8.f);             // input scale
    put_floats(bin, 1, 4.f);             // output scale (8=102)
    put_u32(bin, 0x000D4B38u);           // dw0 weights: 2 int8 values, padded to 4 bytes
    bin.insert(bin.end(), {0xFD, 0x05, 0, 0});
    put_floats(bin, 1, 32.f);            // one weight scale (8=2), input scale
    put_floats(bin, 1, 16.f);
    put_u32(bin, 0x01020304u);           // fc0 weights: a value table and byte indices
    for (int i = 0; i < 256; i++)
        put_floats(bin, 1, (float)i * 0.5f);
    for (int i = 0; i < 64; i++)
        bin.push_back((unsigned char)(i % 4));
    put_floats(bin, 2, 10.f);            // weight scales; InnerProduct has no output scale
    put_floats(bin, 1, 20.f);            // input scale
    return bin;
}

TEST(param_layers_blobs_and_parameters)
{
    NcnnParamFile f = parse_param(kParam, "m.param");
    CHECK(f.layer_count == 5 && f.blob_count == 5 && f.layers.size() == 5);
    const NcnnLayer& conv = f.layers[1];
    CHECK(conv.type == "Convolution" && conv.name == "conv0" && conv.line_no == 5);
    CHECK(conv.bottoms == std::vector<std::string>{"in0"} && conv.tops == std::vector<std::string>{"c0"});
    CHECK(conv.get_int(6, 0) == 54 && conv.get_int(11, 7) == 7);
    const NcnnLayer& relu = f.layers[4];
    CHECK(relu.params.size() == 2);
    CHECK(relu.params[0].is_float && !relu.params[0].is_array && relu.params[0].key == "0" && relu.params[0].text == "1.000000e-01");
    CHECK_NEAR(relu.get_float(0, 0), 0.1, 1e-12);
    const NcnnParam* arr = relu.find(10);
    CHECK(arr && arr->is_array && arr->key == "-23310" && arr->text == "2,1.5,-2");
    CHECK(arr->values == (std::vector<double>{1.5, -2}));
    CHECK_THROWS_WITH(relu.get_int(10, 0), "m.param:8: layer 'relu0' (ReLU): parameter 10 must be a number, not an array");
    CHECK_THROWS_WITH(relu.get_int(0, 0), "parameter 0 must be an integer, got 0.1");
}

static std::string with(const std::string& from, const std::string& to)
{
    std::string s = kParam;
    s.replace(s.find(from), from.size(), to);
    return s;
}

TEST(param_syntax_errors_name_the_file_line_and_what_was_expected)
{
    CHECK_THROWS_WITH(parse_param("", "m.param"), "m.param: empty file (expected an ncnn .param starting with 7767517)");
    CHECK_THROWS_WITH(parse_param(std::string(kParam) + '\0', "m.param"), "m.param: not an ncnn .param text file (contains NUL bytes)");
    CHECK_THROWS_WITH(parse_param(with("7767517", "7767518"), "m.param"), "m.param: not an ncnn .param file (first line must be the magic number 7767517)");
    CHECK_THROWS_WITH(parse_param(with("5 5\n", "5 x\n"), "m.param"), "m.param:2: expected 'layer_count blob_count' (two positive numbers)");
    CHECK_THROWS_WITH(parse_param(with("5 5\n", "6 5\n"), "m.param"), "m.param: header says 6 layers but the file has 5 layer lines");
    CHECK_THROWS_WITH(parse_param(with("conv0 1 1", "conv0 1"), "m.param"), "m.param:5: layer 'conv0': bad bottom/top counts '1 in0'");
    CHECK_THROWS_WITH(parse_param(with("fc0   1 1 d0 f0", "fc0 1 9 d0 f0"), "m.param"), "m.param:7: layer 'fc0': lists fewer blob names than its counts 1 9");
    CHECK_THROWS_WITH(parse_param(with("6=54", "6:54"), "m.param"), "m.param:5: layer 'conv0' (Convolution): bad parameter '6:54' (expected id=value)");
    CHECK_THROWS_WITH(parse_param(with("6=54", "6=5x4"), "m.param"), "m.param:5: layer 'conv0' (Convolution): bad parameter value '6=5x4' (expected a number)");
    CHECK_THROWS_WITH(parse_param(with("2,1.5,-2", "3,1.5,-2"), "m.param"), "m.param:8: layer 'relu0' (ReLU): bad array parameter '-23310=3,1.5,-2' (expected count,v1,...,vcount)");
    CHECK_THROWS_WITH(parse_param(with("2,1.5,-2", "2,1.5,x"), "m.param"), "bad array element in '-23310=2,1.5,x'");
    CHECK_THROWS_WITH(parse_param(with("6=54", "32=54"), "m.param"), "m.param:5: layer 'conv0' (Convolution): parameter id 32 out of range 0..31");
}

TEST(weights_are_located_as_ncnn_loads_them)
{
    const NcnnParamFile f = parse_param(kParam, "m.param");
    const std::vector<unsigned char> bin = bin_for_kparam();
    const auto layers = locate_weights(f, bin.data(), bin.size(), "m.bin");
    CHECK(layers.size() == 5 && layers[0].empty() && layers[4].empty());
    std::vector<std::string> conv;
    for (const WeightChunk& c : layers[1])
        conv.push_back(c.what);
    CHECK(conv == (std::vector<std::string>{"weight", "bias", "weight scales", "input scale", "output scale"}));
    const WeightChunk& w = layers[1][0];
    CHECK(w.tagged && w.storage == WeightStorage::Fp16 && w.offset == 0 && w.size == 4 + 108 && w.count == 54);
    CHECK(decode_weights(bin.data(), w) == std::vector<float>(54, 1.5f));
    CHECK(decode_weights(bin.data(), layers[1][1]) == std::vector<float>(2, 0.25f));
    CHECK(decode_weights(bin.data(), layers[1][4]) == std::vector<float>{4.f});
    const WeightChunk& dw = layers[2][0];
    CHECK(dw.storage == WeightStorage::Int8 && dw.size == 8 && layers[2].size() == 3 && layers[2][1].count == 1);
    CHECK(decode_weights(bin.data(), dw) == (std::vector<float>{-3.f, 5.f}));
    const WeightChunk& fc = layers[3][0];
    CHECK(fc.storage == WeightStorage::Table && fc.size == 4 + 1024 + 64);
    const std::vector<float> v = decode_weights(bin.data(), fc);
    CHECK(v[0] == 0.f && v[1] == 0.5f && v[3] == 1.5f && v[63] == 1.5f);
    CHECK(layers[3].size() == 3 && layers[3][2].what == "input scale");
    CHECK(layers[3][2].offset + layers[3][2].size == bin.size());
}

TEST(a_bin_that_does_not_fit_its_param_is_refused)
{
    const NcnnParamFile f = parse_param(kParam, "m.param");
    std::vector<unsigned char> bin = bin_for_kparam();
    std::vector<unsigned char> shorter(bin.begin(), bin.end() - 2);
    CHECK_THROWS_WITH(locate_weights(f, shorter.data(), shorter.size(), "m.bin"),
                      "m.bin: too short for layer 'fc0' (InnerProduct) input scale: needs 4 bytes at offset 1252 but only 2 remain (truncated, or the .bin of another .param)");
    CHECK_THROWS_WITH(locate_weights(f, bin.data(), 2, "m.bin"), "m.bin: too short for layer 'conv0' (Convolution) weight: needs 4 bytes at offset 0");
    bin.insert(bin.end(), 8, 0);
    CHECK_THROWS_WITH(locate_weights(f, bin.data(), bin.size(), "m.bin"), "m.bin: 8 bytes left over after the last layer's weights (1256 of 1264 used)");
    const NcnnParamFile negative = parse_param(with("0=2 1=0 2=64", "0=2 1=0 2=-64"), "m.param");
    CHECK_THROWS_WITH(locate_weights(negative, bin.data(), bin.size(), "m.bin"), "m.param:7: layer 'fc0' (InnerProduct): its weight would hold -64 values");
}

static std::string read_file(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

TEST(reference_model_reads_whole)
{
    const std::string shared = facedge_test::shared_dir();
    if (shared.empty())
        SKIP("no shared data; set FACEDGE_SHARED");
    const std::string dir = shared + "/reference/ultraface-ncnn/";
    const NcnnParamFile f = parse_param(read_file(dir + "RFB-320.param"), "RFB-320.param");
    const std::string bin = read_file(dir + "RFB-320.bin");
    const auto layers = locate_weights(f, (const unsigned char*)bin.data(), bin.size(), "RFB-320.bin");
    size_t weighted = 0, values = 0;
    for (const auto& chunks : layers)
        for (const WeightChunk& c : chunks)
        {
            weighted += c.what == "weight";
            values += (size_t)c.count;
        }
    CHECK(f.layers.size() == 116 && weighted == 52); // its 34 convolutions and 18 depthwise ones
    CHECK(values * 4 + 52 * 4 == bin.size());          // fp32 throughout: values plus one tag per weight
}
