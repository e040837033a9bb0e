// One ncnn network, run ITER times on a fixed input: the workload whose guest
// instructions bench/a72/layer_cost/measure.py counts under qemu (-cpu cortex-a72 /
// cortex-a76). Two runs with different ITER give the cost of one forward pass,
// without the process start, the model load and the first pass's allocations.
//
//   layer_cost PARAM BIN W H C ITER [INPUT OUTPUT[,OUTPUT...]]
//
// The input blob is INPUT (default "in"), the outputs OUTPUT... (default "out"). The input is handed over already in the
// layout ncnn's convolutions produce (fp32, 4 channels packed when C % 4 == 0), so a
// single-layer network costs what that layer costs inside a whole model, without a
// repacking pass of its own. The output is taken as it is (extract type 1: no cast of
// an int8 output back to float). Options as facedge's Detector sets them.
// Every pass after the first is bracketed by the A72 timing model's phase marker
// (syscall 0x7fac, bench/a72/timing), which other emulators answer with ENOSYS.
// LAYER_COST_THREADS=N runs ncnn on N threads (default 1).
// With LAYER_COST_DUMP=FILE the last pass's float outputs are written there (unpacked,
// float32, one after the other): to compare what two networks compute on the
// emulated CPU.
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <sys/syscall.h>
#include <unistd.h>
#include <string>
#include <vector>

#include "cpu.h"
#include "mat.h"
#include "net.h"

int main(int argc, char** argv)
{
    if (argc != 7 && argc != 9)
    {
        std::fprintf(stderr, "usage: %s PARAM BIN W H C ITER [INPUT OUTPUT[,OUTPUT...]]\n", argv[0]);
        return 2;
    }
    const int w = std::atoi(argv[3]), h = std::atoi(argv[4]), c = std::atoi(argv[5]), iter = std::atoi(argv[6]);
    if (w <= 0 || h <= 0 || c <= 0 || iter < 0)
    {
        std::fprintf(stderr, "layer_cost: bad W H C ITER\n");
        return 2;
    }
    const std::string input_name = argc == 9 ? argv[7] : "in";
    std::vector<std::string> outputs;
    {
        std::string list = argc == 9 ? argv[8] : "out", item;
        for (char ch : list + ",")
        {
            if (ch == ',')
            {
                if (!item.empty()) outputs.push_back(item);
                item.clear();
            }
            else
                item += ch;
        }
    }
    ncnn::Net net;
    net.opt.num_threads = std::getenv("LAYER_COST_THREADS") ? std::atoi(std::getenv("LAYER_COST_THREADS")) : 1;
    if (net.opt.num_threads < 1) net.opt.num_threads = 1;
    net.opt.lightmode = true;
    net.opt.use_packing_layout = true;
    net.opt.use_fp16_storage = true;  // facedge's default (fp16 on): used where the CPU has asimdhp (A76)
    net.opt.use_fp16_packed = true;
    net.opt.use_fp16_arithmetic = true;
    net.opt.use_bf16_storage = false;
    net.opt.use_int8_inference = true;
    net.opt.use_vulkan_compute = false;
    if (net.load_param(argv[1]) != 0 || net.load_model(argv[2]) != 0)
    {
        std::fprintf(stderr, "layer_cost: cannot load %s / %s\n", argv[1], argv[2]);
        return 1;
    }
    const int pack = c % 4 == 0 ? 4 : 1;
    ncnn::Mat in;
    in.create(w, h, c / pack, 4u * pack, pack);
    uint32_t state = 12345u;
    float* p = in;
    for (size_t i = 0; i < in.total() * pack; i++)
    {
        state = state * 1664525u + 1013904223u;
        p[i] = (float)((state >> 8) & 0xffff) / 65536.f * 2.f - 0.5f;  // mostly positive, as after a ReLU
    }
    if (ncnn::cpu_support_arm_asimdhp())  // a Pi 5: its fp16 layers pass fp16 blobs, packed by 8
    {
        ncnn::Mat in16, packed;
        ncnn::cast_float32_to_float16(in, in16, net.opt);
        ncnn::convert_packing(in16, packed, c % 8 == 0 ? 8 : pack, net.opt);
        in = packed;
    }
    double sink = 0;
    for (int i = 0; i < iter; i++)
    {
        if (i > 0) syscall(0x7fac, 1L);  // the timing model's phase 1: one measured pass
        ncnn::Extractor ex = net.create_extractor();
        ex.input(input_name.c_str(), in);
        for (const std::string& name : outputs)
        {
            ncnn::Mat out;
            if (ex.extract(name.c_str(), out, 1) != 0 || out.empty())
            {
                std::fprintf(stderr, "layer_cost: forward failed (%s)\n", name.c_str());
                return 1;
            }
            if (i == iter - 1 && std::getenv("LAYER_COST_DUMP") && out.elembits() != 8)
            {
                ncnn::Mat flat, f32;
                ncnn::convert_packing(out, flat, 1, net.opt);
                if (flat.elembits() == 16)
                    ncnn::cast_float16_to_float32(flat, f32, net.opt);
                else
                    f32 = flat;
                FILE* fp = std::fopen(std::getenv("LAYER_COST_DUMP"), name == outputs[0] ? "wb" : "ab");
                for (int q = 0; q < f32.c; q++)
                    std::fwrite(f32.channel(q), sizeof(float), (size_t)f32.w * f32.h * f32.d, fp);
                std::fclose(fp);
            }
            sink += out.elemsize == 1 ? (double)((const signed char*)out.data)[0] : (double)((const float*)out.data)[0];
        }
        if (i > 0) syscall(0x7fac, 0L);
    }
    std::printf("ok %g\n", sink);
    return 0;
}
