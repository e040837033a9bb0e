// Guest instructions of one preprocessing call on the emulated Cortex-A72: facedge's
// fused path with its NEON kernels (`auto`: area filtering across, bilinear down, at
// this 2.25 x 1.99 downscale; or `bilinear`) against the earlier one (`old`: ncnn's resize_bilinear_c3
// and a planes pass), a 720x478 BGR frame to 320x240, or to the size given third
// (`auto 6 160x120`; `old` makes 320x240 only). A development tool, not built
// by CMake; from the repository root, with facedge's aarch64 ncnn in the cache:
//
//   NC=$(ls -d ~/.cache/facedge/ncnn/*-aarch64-*)/install
//   aarch64-linux-gnu-g++ -O3 -mcpu=cortex-a72 -std=c++14 -static -Icpp/include -I$NC/include/ncnn \
//       bench/a72/preprocess_insn.cpp cpp/src/preprocess.cpp cpp/src/resample*.cpp cpp/src/image.cpp \
//       $NC/lib/libncnn.a -fopenmp -lpthread -o /tmp/preprocess_insn
//   gcc -O2 -shared -fPIC -o /tmp/libinsncount.so ../shared/tools/arm/qemu-insn-count/insncount.c
//   for n in 1 6; do qemu-aarch64 -cpu cortex-a72 -L ~/.cache/facedge/arm/a72-prefix \
//       -plugin /tmp/libinsncount.so,out=/tmp/insn-$n.txt /tmp/preprocess_insn auto $n; done
//
// (insn-6 - insn-1) / 5 is one steady-state call (the resampling plan is made once
// per frame size and thread). Calls after the first are also marked for the A72
// timing model (its marker system call; elsewhere it fails harmlessly with ENOSYS):
//
//   python -m bench.a72.timing -L ~/.cache/facedge/arm/a72-prefix -- /tmp/preprocess_insn auto 6
#include "facedge/preprocess.h"
#include "mat.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <sys/syscall.h>
#include <vector>
using namespace facedge;
static void old_path(const uint8_t* px, int sw, int sh, ncnn::Mat& out) {
  static std::vector<uint8_t> resized(320 * 240 * 3);
  ncnn::resize_bilinear_c3(px, sw, sh, sw * 3, resized.data(), 320, 240, 320 * 3);
  out.create(320, 240, 3, (size_t)4u);
  const float scale = 1 / 128.f, bias = -127.f / 128.f;
  for (int k = 0; k < 3; k++) { float* d = out.channel(k); const uint8_t* s = resized.data() + (2 - k);
    for (int i = 0; i < 320 * 240; i++) d[i] = (float)s[(size_t)i * 3] * scale + bias; }
}
int main(int argc, char** argv) {
  const int calls = atoi(argv[2]); const int sw = 720, sh = 478;
  int w = 320, h = 240; if (argc > 3 && sscanf(argv[3], "%dx%d", &w, &h) != 2) return 2;
  std::vector<uint8_t> px((size_t)sw * sh * 3); unsigned seed = 1; for (auto& p : px) p = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
  ImageView img{px.data(), sw, sh, sw * 3, PixelFormat::BGR};
  float mean[3] = {127, 127, 127}, norm[3] = {1 / 128.f, 1 / 128.f, 1 / 128.f};
  ncnn::Mat out;
  for (int i = 0; i < calls; i++) {
    if (i) syscall(0x7fac, 1);
    if (!strcmp(argv[1], "old")) old_path(px.data(), sw, sh, out);
    else resize_normalize(img, PixelOrder::RGB, mean, norm, w, h, out, nullptr, !strcmp(argv[1], "bilinear") ? ResizeFilter::Bilinear : ResizeFilter::Auto);
    if (i) syscall(0x7fac, 0);
  }
  return out.empty() && calls ? 1 : 0;
}
