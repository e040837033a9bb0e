#!/usr/bin/env bash
# Rebuilds calibration/costs/cortex-a72.json and cortex-a76.json from fp32 model
# directories (facedge convert outputs' fp32/ folders), on an x86 Debian machine:
#   bash bench/a72/layer_cost/make_tables.sh WORK_DIR FP32_MODEL_DIR...
# Needs g++-aarch64-linux-gnu, qemu-user, llvm (llvm-mca; llvm-19 for the A76's Neoverse N1
# model) from apt, the shared folder's ARM tools (FACEDGE_SHARED, default ../shared),
# facedge installed (its runtime finds blob shapes) and the A72 timing model
# (bench/a72/timing, issue 12) importable from this checkout: the tables are in its
# cycles. Takes about 10 minutes per model and CPU on two busy cores.
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
common=(--cycles --prefix "$WORK/a72-prefix" --plugin "$WORK/libinsncount.so" --harness "$WORK/layer_cost" --jobs 2)
# bench.a72.timing from this checkout, and not its facedge/ source folder (the installed
# facedge has the compiled core and the calibration package): a folder holding only bench/
mkdir -p "$WORK/pythonpath" && ln -sfn "$PWD/bench" "$WORK/pythonpath/bench"
export PYTHONPATH=$WORK/pythonpath${PYTHONPATH:+:$PYTHONPATH}
python bench/a72/layer_cost/measure.py "$@" --out "$WORK/cortex-a72.json" --cpu cortex-a72 "${common[@]}"
python bench/a72/layer_cost/measure.py "$@" --out "$WORK/cortex-a76.json" --cpu cortex-a76 "${common[@]}"
# the tables this run replaces: what is not measured here is carried over from them (below)
for cpu in cortex-a72 cortex-a76; do cp calibration/costs/$cpu.json "$WORK/$cpu.previous.json"; done
block_model=$(python -c "from bench.a72.timing.blockcycles import MODEL_VERSION; print(MODEL_VERSION)")
models="facedge's $(for m in "$@"; do basename "$(dirname "$m")"; done | paste -sd, -)"
for cpu in cortex-a72 cortex-a76; do
  clock=$([ $cpu = cortex-a72 ] && echo 1.5 || echo 2.4)
  fit() {
    python bench/a72/layer_cost/fit.py "$WORK/$cpu.json" --out calibration/costs/$cpu.json --clock-ghz $clock \
      --cycles-per-unit 1.0 --unit "cycles (A72 timing model, bench/a72/timing, block model $block_model: llvm-mca per block, one thread, no memory model)" \
      --source "bench/a72/layer_cost/make_tables.sh: ncnn 20261020 aarch64, qemu -cpu $cpu, $models" "$@"
  }
  fit
  # whole models at 1 and 4 threads: each precision's speed-up at 4 threads
  for m in "$@"; do
    python bench/a72/layer_cost/timing_check.py "$m" --harness "$WORK/layer_cost" --prefix "$WORK/a72-prefix" \
      --cpu $cpu --json "$WORK/$cpu-$(basename "$(dirname "$m")")-threads.json"
  done
  speedup=$(python - "$WORK"/$cpu-*-threads.json <<'PY'
import json, sys
rows = [r for f in sys.argv[1:] for r in json.load(open(f))]
def total(name, t):
    return sum(r["cycles"] for r in rows if r["model"] == name and r["threads"] == t)
print(",".join(f"{total(n, 1) / total(n, 4):.3f}" for n in ("fp32", "every layer int8")))
PY
)
  fit --speedup-4 "$speedup"
done
# The A72's repack pass behind int8 depthwise layers read by float ones, seen only in whole
# models (the A76 has fp16 storage and no such pass)
python bench/a72/layer_cost/repack_cost.py "$@" --harness "$WORK/layer_cost" --prefix "$WORK/a72-prefix" \
  --table calibration/costs/cortex-a72.json --json "$WORK/repack.json"
# ncnn's generic int8 depthwise loop (RetinaFace's leaky ReLU, BlazeFace's 5x5) was solved from
# function profiles of those whole models (bench/RESULTS.md), not from these layers: carried over
for cpu in cortex-a72 cortex-a76; do
  python - "$WORK/$cpu.previous.json" calibration/costs/$cpu.json <<'PY'
import json, sys
old, new = (json.load(open(f)) for f in sys.argv[1:])
if "dw_int8_generic" in old.get("classes", {}):
    new["classes"]["dw_int8_generic"] = old["classes"]["dw_int8_generic"]
    new["dw_int8_generic_source"] = old.get("dw_int8_generic_source", "carried over")
    open(sys.argv[2], "w").write(json.dumps(new, indent=1) + "\n")
PY
done
