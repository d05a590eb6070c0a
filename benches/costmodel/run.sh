#!/usr/bin/env bash
# Cost model check: compiles models in several circuit shapes, proves each (UNSAFE dev SRS),
# builds its Solidity verifier, and prints the cost model's prediction (prover/src/cost.rs,
# written into settings.json by `zkinfer compile`) next to the measured prove time and
# verifier size and verification gas; then refits the model's constants by least squares and prints them.
# Usage: bash benches/costmodel/run.sh [--quick] [OUT]      (~15 min on 2 cores; --quick ~4)
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK=0
if [ "${1:-}" = --quick ]; then QUICK=1; shift; fi
OUT="${1:-out/costmodel}"
mkdir -p "$OUT"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
[ -d verifier-contract/node_modules/solc ] || bash verifier-contract/install.sh > /dev/null
"$Z" synth-mlp --layers 256,320,64 -o "$OUT/mlp-256x320x64" > /dev/null
"$Z" synth-mlp --layers 96,96,10 -o "$OUT/mlp-96x96x10" > /dev/null
# model dir | onnx | input | extra compile flags
MODELS="digits_mlp_int8|models/digits_mlp_int8/model.onnx|models/digits_mlp_int8/input.json|
digits_cnn|models/digits_cnn/model.onnx|models/digits_cnn/input.json|
digits_cnn_int8|models/digits_cnn_int8/model.onnx|models/digits_cnn_int8/input.json|
digits_cnn_hashed|models/digits_cnn/model.onnx|models/digits_cnn/input.json|--input-visibility hashed --output-visibility hashed
mlp-96x96x10|$OUT/mlp-96x96x10/model.onnx|$OUT/mlp-96x96x10/input.json|
mlp-256x320x64|$OUT/mlp-256x320x64/model.onnx|$OUT/mlp-256x320x64/input.json|"
SHAPES="4,1 4,2 4,4 6,1 6,2 6,3 6,4 8,2 8,4"
[ $QUICK = 1 ] && SHAPES="4,2 6,4 8,4" && MODELS=$(echo "$MODELS" | grep -v 256x320)
: > "$OUT/points.jsonl"
while IFS='|' read -r name onnx input flags; do
  for sh in $SHAPES; do
    w=${sh%,*}; l=${sh#*,}
    case "$name" in *hashed) [ "$w" -ge 6 ] || continue ;; esac
    d="$OUT/$name-$w-$l"
    # shellcheck disable=SC2086
    "$Z" compile "$onnx" -o "$d" --width "$w" --lookup-width "$l" $flags > "$d.log" 2>&1 || { echo "skip $d: $(tail -1 "$d.log")"; continue; }
    "$Z" setup "$d" >> "$d.log" 2>&1
    # the faster of two proofs (the first also warms the page cache)
    "$Z" prove "$d" --input "$input" >> "$d.log" 2>&1
    cp "$d/proof.json" "$d/proof1.json"
    "$Z" prove "$d" --input "$input" >> "$d.log" 2>&1
    "$Z" evm-verifier "$d" --json > "$d.evm.json" 2> "$d.evm.log" || true
    python3 - "$d" "$name" "$OUT/points.jsonl" <<'PY'
import json, re, sys
d, name, out = sys.argv[1:]
s = json.load(open(f"{d}/settings.json")); p = json.load(open(f"{d}/proof.json"))
p["prove_seconds"] = min(p["prove_seconds"], json.load(open(f"{d}/proof1.json"))["prove_seconds"])
try:
    evm = json.load(open(f"{d}.evm.json"))
except ValueError:
    evm = {}
pt = {"model": name, "shape": s["shape"], "k": s["k"], "rows": s["rows"], "instances": s["num_instances"], "cost": s["cost"],
      "prove_s": p["prove_seconds"], "verifier_bytes": evm.get("deployed_bytes_total"), "gas": evm.get("gas_used"), "contracts": evm.get("contracts")}
open(out, "a").write(json.dumps(pt) + "\n")
PY
  done
done <<< "$MODELS"
python3 benches/costmodel/fit.py "$OUT/points.jsonl"
