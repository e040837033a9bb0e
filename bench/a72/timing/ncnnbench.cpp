// ncnnbench: runs one ncnn .param network the way ncnn's benchncnn measures it (same
// Option settings and allocators, weights all zero, input filled with 0.01), and marks
// each timed iteration for the tbprofile qemu plugin with syscall(0x7fac, 1/0).
//
//   ncnnbench PARAM W H C THREADS [WARMUP=1] [LOOPS=1] [WORKSPACE_RATIO=0] [BF16=0] [BIN]
//
// WORKSPACE_RATIO is the workspace pool's size-compare ratio (benchncnn used 0.5 up to
// 2022 and 0 later). BF16=1 adds bf16 storage (facedge's `bf16=True`; benchncnn never
// sets it): on an A72, which has no fp16 storage, bf16 is then what runs. BIN: the
// model's own weights instead of zeros (an int8 model needs them: zeros read as fp32
// weights, so its layers would run as float), and every output extracted, as
// facedge's detect() does (benchncnn extracts the first only). Under emulation one warm-up suffices: it makes the pools and the
// lazily built kernels; instruction counts of later iterations repeat.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "datareader.h"
#include "net.h"

namespace {

// weights read as zeros, as benchncnn does: the arithmetic is the same for any values
class ZeroReader : public ncnn::DataReader {
public:
    int scan(const char*, void*) const override { return 0; }
    size_t read(void* buf, size_t size) const override {
        std::memset(buf, 0, size);
        return size;
    }
};

void mark(long on) { syscall(0x7fac, on); }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: ncnnbench PARAM W H C THREADS [WARMUP] [LOOPS] [WORKSPACE_RATIO] [BF16] [BIN]\n");
        return 2;
    }
    const char* param = argv[1];
    int w = std::atoi(argv[2]), h = std::atoi(argv[3]), c = std::atoi(argv[4]), threads = std::atoi(argv[5]);
    int warmup = argc > 6 ? std::atoi(argv[6]) : 1, loops = argc > 7 ? std::atoi(argv[7]) : 1;
    float workspace_ratio = argc > 8 ? (float)std::atof(argv[8]) : 0.f;
    const bool bf16 = argc > 9 && std::atoi(argv[9]) != 0;
    const char* bin = argc > 10 ? argv[10] : nullptr;
    if (w <= 0 || h <= 0 || c <= 0 || threads <= 0 || warmup < 0 || loops <= 0) {
        std::fprintf(stderr, "ncnnbench: sizes, threads and loops must be positive\n");
        return 2;
    }

    static ncnn::UnlockedPoolAllocator blob_pool;
    static ncnn::PoolAllocator workspace_pool;
    blob_pool.set_size_compare_ratio(0.f);
    workspace_pool.set_size_compare_ratio(workspace_ratio);
    ncnn::set_cpu_powersave(0);
    ncnn::set_omp_dynamic(0);
    ncnn::set_omp_num_threads(threads);

    ncnn::Net net;
    ncnn::Option& opt = net.opt;
    opt.lightmode = true;
    opt.num_threads = threads;
    opt.blob_allocator = &blob_pool;
    opt.workspace_allocator = &workspace_pool;
    opt.use_winograd_convolution = true;
    opt.use_sgemm_convolution = true;
    opt.use_int8_inference = true;
    opt.use_vulkan_compute = false;
    opt.use_fp16_packed = true;
    opt.use_fp16_storage = true;
    opt.use_fp16_arithmetic = true;
    opt.use_int8_storage = true;
    opt.use_int8_arithmetic = true;
    opt.use_packing_layout = true;
    opt.use_bf16_storage = bf16;

    if (net.load_param(param) != 0) {
        std::fprintf(stderr, "ncnnbench: %s: ncnn could not load this .param file\n", param);
        return 3;
    }
    ZeroReader zeros;
    if (bin ? net.load_model(bin) != 0 : net.load_model(zeros) != 0) {
        std::fprintf(stderr, "ncnnbench: %s: ncnn could not create the layers' weights\n", param);
        return 3;
    }
    ncnn::Mat in(w, h, c);
    in.fill(0.01f);
    const char* input = net.input_names()[0];
    const std::vector<const char*>& outputs = net.output_names();
    const size_t extracted = bin ? outputs.size() : 1;
    ncnn::Mat out;
    for (int i = 0; i < warmup + loops; i++) {
        if (i >= warmup) mark(1);
        {
            ncnn::Extractor ex = net.create_extractor();
            ex.input(input, in);
            for (size_t k = 0; k < extracted; k++)
                ex.extract(outputs[k], out);
        }
        if (i >= warmup) mark(0);
    }
    std::printf("{\"param\": \"%s\", \"out\": [%d, %d, %d], \"loops\": %d}\n", param, out.w, out.h, out.c, loops);
    return 0;
}
