// One network's bare ncnn inference, for the A72 frontier (bench/a72/frontier.py) to
// cost under qemu: loads a .param/.bin, runs it on a constant 3 x H x W input with
// the Detector's options (fp16 storage and arithmetic, int8 layers as int8), one
// warm-up, then LOOPS runs, each extracting every output (a family's box and landmark
// heads are not left out, as extracting one output in light mode would) and bracketed
// by the timing model's marker system call syscall(0x7fac, 1) ... (0x7fac, 0).
//
//   frontier_infer PARAM BIN W H THREADS [LOOPS=1]
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cpu.h"
#include "net.h"

static void mark(long phase)
{
    syscall(0x7fac, phase);
}

int main(int argc, char** argv)
{
    if (argc < 6)
    {
        std::fprintf(stderr, "usage: frontier_infer PARAM BIN W H THREADS [LOOPS]\n");
        return 2;
    }
    const int w = std::atoi(argv[3]), h = std::atoi(argv[4]), threads = std::atoi(argv[5]);
    const int loops = argc > 6 ? std::atoi(argv[6]) : 1;
    if (w <= 0 || h <= 0 || threads <= 0 || loops <= 0)
    {
        std::fprintf(stderr, "frontier_infer: sizes, threads and loops must be positive\n");
        return 2;
    }
    ncnn::set_omp_num_threads(threads);
    ncnn::Net net;
    net.opt.num_threads = threads;
    net.opt.lightmode = true;
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = true;
    net.opt.use_int8_inference = true;
    net.opt.use_vulkan_compute = false;
    if (net.load_param(argv[1]) != 0 || net.load_model(argv[2]) != 0)
    {
        std::fprintf(stderr, "frontier_infer: %s: ncnn could not load the model\n", argv[1]);
        return 3;
    }
    ncnn::Mat in(w, h, 3);
    in.fill(64.f);
    const std::vector<const char*>& outputs = net.output_names();
    for (int i = 0; i < 1 + loops; i++)
    {
        if (i > 0)
            mark(1);
        ncnn::Extractor ex = net.create_extractor();
        ex.input(net.input_names()[0], in);
        for (const char* name : outputs)
        {
            ncnn::Mat out;
            if (ex.extract(name, out) != 0)
            {
                std::fprintf(stderr, "frontier_infer: could not compute %s at %dx%d\n", name, w, h);
                return 4;
            }
        }
        if (i > 0)
            mark(0);
    }
    std::printf("ok %d outputs\n", (int)outputs.size());
    return 0;
}
