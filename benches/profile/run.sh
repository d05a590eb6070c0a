#!/usr/bin/env bash
# Where a proof's time goes at k 17-21 (issue: performance at scale): builds zkinfer with
# halo2's phase timers (`--features profile`, into a copy of the binary; the normal build is
# left as it was), proves synthetic CNNs of growing size and the zoo's transformer encoder,
# and prints one row per model: zkinfer's own witness work (executor, layout, advice columns)
# and each halo2 prover phase (advice commitments, lookup permuted columns and grand products,
# permutation grand products, the quotient on the extended domain, its commitments,
# evaluations, the multi-opening), next to the cost model's prediction.
#   bash benches/profile/run.sh [--quick] [OUT]     (--quick: k <= 18, ~5 min; full ~25 min)
# UNSAFE dev SRS (benchmarks only). Writes OUT/breakdown.md and OUT/breakdown.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK=0
if [ "${1:-}" = --quick ]; then QUICK=1; shift; fi
OUT="${1:-out/profile}"
mkdir -p "$OUT"
T="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p zkinfer-service --features profile --bin zkinfer
cp "$T/release/zkinfer" "$OUT/zkinfer-profile"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="$OUT/zkinfer-profile"
# name | how to make it (a zoo folder, or synth-cnn arguments)
MODELS="cnn-1x28x28-4-8|--input 1,28,28 --channels 4,8
cnn-1x28x28-8-16|--input 1,28,28 --channels 8,16
encoder|zoo:net_encoder_f32
cnn-3x32x32-16-32|--input 3,32,32 --channels 16,32
cnn-3x32x32-32-64|--input 3,32,32 --channels 32,64"
[ $QUICK = 1 ] && MODELS=$(echo "$MODELS" | head -3)
: > "$OUT/runs.txt"
while IFS='|' read -r name how; do
  d="$OUT/$name"
  rm -rf "$d"; mkdir -p "$d"
  case "$how" in
    zoo:*) cp "models/zoo/${how#zoo:}/model.onnx" "models/zoo/${how#zoo:}/input.json" "$d/" ;;
    # shellcheck disable=SC2086
    *) "$Z" synth-cnn $how -o "$d" > /dev/null ;;
  esac
  "$Z" compile "$d/model.onnx" -o "$d/c" --input "$d/input.json" --optimize prove --json > "$d/compile.json"
  "$Z" setup "$d/c" > /dev/null 2>&1
  # two proofs, the second measured (the first warms caches and the page cache)
  "$Z" prove "$d/c" --input "$d/input.json" > /dev/null 2>&1
  /usr/bin/time -v "$Z" prove "$d/c" --input "$d/input.json" > "$d/prove.log" 2> "$d/time.log"
  echo "$name $d" >> "$OUT/runs.txt"
  echo "$name: done" >&2
done <<< "$MODELS"
python3 benches/profile/breakdown.py "$OUT/runs.txt" "$OUT/breakdown.json" | tee "$OUT/breakdown.md"
