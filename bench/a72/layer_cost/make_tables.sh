#!/usr/bin/env bash
# Rebuilds calibration/costs/cortex-a72.json and cortex-a76.json from fp32 model
# directories (facedge convert outputs' fp32/ folders), on an x86 Debian machine:
#   bash bench/a72/layer_cost/make_tables.sh WORK_DIR FP32_MODEL_DIR...
# Needs g++-aarch64-linux-gnu and qemu-user (apt), the shared folder's ARM tools
# (FACEDGE_SHARED, default ../shared) and facedge installed (its runtime finds blob shapes).
# Takes about 5 minutes per model and CPU on two busy cores.
set -euo pipefail
cd "$(dirname "$0")/../../.."
WORK=${1:?usage: make_tables.sh WORK_DIR FP32_MODEL_DIR...}; shift
SHARED=${FACEDGE_SHARED:-$(cd .. && pwd)/shared}
mkdir -p "$WORK"
# aarch64 ncnn, built once into facedge's ncnn cache by configuring the C++ core
cmake -S cpp -B "$WORK/cpp-aarch64" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$PWD/cpp/cmake/aarch64-linux-gnu.toolchain.cmake" \
  -DFACEDGE_BUILD_PYTHON=OFF -DFACEDGE_BUILD_TESTS=OFF > "$WORK/configure.log"
NCNN=$(sed -n 's/^FACEDGE_NCNN_PREFIX:INTERNAL=//p' "$WORK/cpp-aarch64/CMakeCache.txt")
aarch64-linux-gnu-g++ -O2 -mcpu=cortex-a72 -fopenmp -I"$NCNN/include/ncnn" bench/a72/layer_cost/layer_cost.cpp \
  "$NCNN/lib/libncnn.a" -o "$WORK/layer_cost" -lpthread
gcc -O2 -shared -fPIC -o "$WORK/libinsncount.so" "$SHARED/tools/arm/qemu-insn-count/insncount.c"
"$SHARED/tools/arm/make-a72-prefix.sh" "$WORK/a72-prefix"
common=(--prefix "$WORK/a72-prefix" --plugin "$WORK/libinsncount.so" --harness "$WORK/layer_cost" --jobs 2)
python bench/a72/layer_cost/measure.py "$@" --out "$WORK/cortex-a72.json" --cpu cortex-a72 "${common[@]}"
python bench/a72/layer_cost/measure.py "$@" --out "$WORK/cortex-a76.json" --cpu cortex-a76 "${common[@]}"
models="facedge's $(for m in "$@"; do basename "$(dirname "$m")"; done | paste -sd, -)"
python bench/a72/layer_cost/fit.py "$WORK/cortex-a72.json" --out calibration/costs/cortex-a72.json --clock-ghz 1.5 \
  --cycles-per-unit 1.4 --unit "guest instructions (qemu -cpu cortex-a72; INTERIM stand-in for the A72 timing model's cycles)" \
  --source "bench/a72/layer_cost/make_tables.sh: ncnn 20261020 aarch64, qemu -cpu cortex-a72, $models. cycles_per_unit 1.4 (INTERIM): ULFD's published Pi 4B fp32 RFB-320 time at 1 thread (38.6 ms at 1.5 GHz, ULFD issue #53) over the 41.4 M instructions counted here"
python bench/a72/layer_cost/fit.py "$WORK/cortex-a76.json" --out calibration/costs/cortex-a76.json --clock-ghz 2.4 \
  --cycles-per-unit 1.0 --unit "guest instructions (qemu -cpu cortex-a76; INTERIM stand-in for cycles until a timing model of the A76 exists)" \
  --source "bench/a72/layer_cost/make_tables.sh: ncnn 20261020 aarch64 with its armv8.2 fp16 and dot-product kernels, qemu -cpu cortex-a76, $models. cycles_per_unit 1.0 (INTERIM, an assumption)"
