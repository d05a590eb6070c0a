#!/usr/bin/env bash
# On a GPU machine: checks and times the CUDA prover against the CPU prover in one run.
#
#   bash scripts/device-check.sh BUNDLE [MODEL ...]
#
# BUNDLE holds zkinfer-cuda and libcudart.so.13 from scripts/build-cuda.sh (the binary is the
# whole CLI, so nothing else is needed; no Node.js: the EVM check uses verifier.json compiled
# beforehand on the build machine when BUNDLE/verifiers/MODEL/verifier.json exists). For each
# model folder under models/ (default: the four digits models and identity_match) it compiles,
# sets up (CPU keygen, UNSAFE dev SRS), proves on the CPU and on the GPU, verifies the GPU
# proof natively (and in the EVM when a verifier is bundled), checks that a GPU proof with a
# changed output is rejected, and prints one JSON line per model with both timings; then MSM
# and NTT at 2^16..2^22 on both, a large synthetic MLP (k >= 20; $SYNTH_LAYERS, `none` to skip) (`zkinfer bench-kernels`) and the peak GPU memory. Output goes
# to $OUT (the device tool's output folder) or out/device.
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE="$1"; shift
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(digits_mlp_int8 digits_cnn_int8 digits_mlp digits_cnn identity_match)
OUTDIR="${OUT:-out/device}"
mkdir -p "$OUTDIR"
Z="$BUNDLE/zkinfer-cuda"
export LD_LIBRARY_PATH="$BUNDLE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== device"
nvidia-smi || echo "nvidia-smi failed"
echo "== ldd $Z"
ldd "$Z"
"$Z" --version || { echo "zkinfer-cuda cannot start"; exit 1; }

# peak GPU memory over the whole run
( nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$OUTDIR/gpu-mem.log" 2>/dev/null ) &
MEM_PID=$!
trap 'kill $MEM_PID 2>/dev/null' EXIT

secs() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prove_seconds'])" "$1"; }
fail=0
for m in "${MODELS[@]}"; do
  d="$OUTDIR/$m"
  rm -rf "$d"
  flags=()
  [ "$m" = identity_match ] && flags=(--visibility image=private --visibility template=hashed)
  "$Z" compile "models/$m/model.onnx" -o "$d" "${flags[@]}" > "$d.log" 2>&1 || { echo "{\"model\":\"$m\",\"error\":\"compile\"}"; fail=1; continue; }
  "$Z" setup "$d" >> "$d.log" 2>&1 || { echo "{\"model\":\"$m\",\"error\":\"setup\"}"; fail=1; continue; }
  input="models/$m/input.json"
  "$Z" prove "$d" --input "$input" --device cpu -o "$d/cpu.json" >> "$d.log" 2>&1 || { echo "{\"model\":\"$m\",\"error\":\"cpu prove\"}"; fail=1; continue; }
  "$Z" prove "$d" --input "$input" --device cuda -o "$d/gpu.json" >> "$d.log" 2>&1 || { echo "{\"model\":\"$m\",\"error\":\"gpu prove\"}"; tail -5 "$d.log"; fail=1; continue; }
  native=$("$Z" verify "$d" "$d/gpu.json" >> "$d.log" 2>&1 && echo valid || echo INVALID)
  evm=skipped
  if [ -f "$BUNDLE/verifiers/$m/verifier.json" ]; then
    cp "$BUNDLE/verifiers/$m/verifier.json" "$d/verifier.json"
    evm=$("$Z" evm-verifier "$d" --compiled --proof "$d/gpu.json" >> "$d.log" 2>&1 && echo valid || echo INVALID)
  fi
  # a changed output instance must be rejected
  python3 - "$d/gpu.json" "$d/bad.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
last = p["instances"][-1]
p["instances"][-1] = "0x" + format((int(last, 16) + 1) % (1 << 253), "064x")
json.dump(p, open(sys.argv[2], "w"))
PY
  tamper=$("$Z" verify "$d" "$d/bad.json" >> "$d.log" 2>&1 && echo ACCEPTED || echo rejected)
  k=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['k'])" "$d/settings.json")
  cpu=$(secs "$d/cpu.json"); gpu=$(secs "$d/gpu.json")
  echo "{\"model\":\"$m\",\"k\":$k,\"cpu_prove_s\":$cpu,\"gpu_prove_s\":$gpu,\"native\":\"$native\",\"evm\":\"$evm\",\"tampered\":\"$tamper\"}" | tee -a "$OUTDIR/results.jsonl"
  { [ "$native" = valid ] && [ "$tamper" = rejected ] && [ "$evm" != INVALID ]; } || fail=1
done
# a large synthetic circuit (k >= 20 by default): a float MLP written by zkinfer itself
SYNTH="${SYNTH_LAYERS:-2048,2048,1024,10}"
if [ "$SYNTH" != none ]; then
  d="$OUTDIR/synthetic"
  rm -rf "$d"
  "$Z" synth-mlp --layers "$SYNTH" -o "$d/model" > "$d.log" 2>&1
  if "$Z" compile "$d/model/model.onnx" -o "$d" >> "$d.log" 2>&1 && "$Z" setup "$d" >> "$d.log" 2>&1 \
     && "$Z" prove "$d" --input "$d/model/input.json" --device cpu -o "$d/cpu.json" >> "$d.log" 2>&1 \
     && "$Z" prove "$d" --input "$d/model/input.json" --device cuda -o "$d/gpu.json" >> "$d.log" 2>&1; then
    native=$("$Z" verify "$d" "$d/gpu.json" >> "$d.log" 2>&1 && echo valid || echo INVALID)
    k=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['k'])" "$d/settings.json")
    echo "{\"model\":\"synthetic $SYNTH\",\"k\":$k,\"cpu_prove_s\":$(secs "$d/cpu.json"),\"gpu_prove_s\":$(secs "$d/gpu.json"),\"native\":\"$native\"}" | tee -a "$OUTDIR/results.jsonl"
    [ "$native" = valid ] || fail=1
  else
    echo "{\"model\":\"synthetic $SYNTH\",\"error\":\"see $d.log\"}"; tail -5 "$d.log"; fail=1
  fi
fi

echo "== kernels (MSM, NTT): CPU vs GPU in one run"
"$Z" bench-kernels --log-n 16,18,20,22 --gpu | tee -a "$OUTDIR/results.jsonl" || fail=1
kill $MEM_PID 2>/dev/null
peak=$(sort -n "$OUTDIR/gpu-mem.log" 2>/dev/null | tail -1)
echo "{\"peak_gpu_memory_mib\":\"${peak:-unknown}\"}" | tee -a "$OUTDIR/results.jsonl"
exit $fail
