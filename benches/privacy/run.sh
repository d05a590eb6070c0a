#!/usr/bin/env bash
# Verification gas and calldata, public vs hashed inputs/outputs (and hashed inputs, outputs
# and weights), for the bundled models: compile -> setup -> prove -> evm-verifier (in-process
# revm) in each mode; prints a markdown table. UNSAFE dev SRS (benchmark only). Usage: bash benches/privacy/run.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash verifier-contract/install.sh >&2
cargo build --release -q
Z="${CARGO_TARGET_DIR:-target}/release/zkinfer"
OUT="${1:-out/privacy}"
mkdir -p "$OUT"
# model folder : extra compile flags of the "hashed" run
MODELS="digits_mlp_int8 digits_cnn_int8 digits_mlp digits_cnn identity_match"
echo "| model | mode | k | cols | public instances | calldata B | verifier B | verify gas | prove s |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
  for mode in public hashed weights; do
    d="$OUT/$m-$mode"
    rm -rf "$d"
    flags=()
    if [ "$mode" != public ]; then
      if [ "$m" = identity_match ]; then
        flags=(--visibility image=private --visibility template=hashed)
      else
        flags=(--input-visibility hashed --output-visibility hashed)
      fi
    fi
    if [ "$mode" = weights ]; then
      flags+=(--weight-visibility hashed)
    fi
    "$Z" compile "models/$m/model.onnx" -o "$d" "${flags[@]}" > "$d.compile.log" 2>&1
    "$Z" setup "$d" > /dev/null 2>&1
    "$Z" prove "$d" --input "models/$m/input.json" > /dev/null 2>&1
    evm=$("$Z" evm-verifier "$d" 2>/dev/null)
    python3 - "$d" "$m" "$mode" "$evm" <<'PY'
import json, re, sys
d, m, mode, evm = sys.argv[1:]
s = json.load(open(f"{d}/settings.json"))
p = json.load(open(f"{d}/proof.json"))
n = len(p["instances"])
proof_b = (len(p["proof"]) - 2) // 2
size = re.search(r"deployed size: (\d+)", evm).group(1)
gas = re.search(r"gas used (\d+)", evm).group(1)
label = {"weights": "hashed + weights hashed"}.get(mode, mode)
print(f"| {m} | {label} | {s['k']} | {s['shape']['width']}/{s['shape']['lookup_width']} | {n} | {32 * n + proof_b:,} | {int(size):,} | {int(gas):,} | {p['prove_seconds']:.2f} |")
PY
  done
done
