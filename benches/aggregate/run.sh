#!/usr/bin/env bash
# Aggregated verification: for each "model:k" pair, compile with hashed inputs and outputs,
# set up, then `zkinfer aggregate --evm` (model proof with the Poseidon transcript, aggregation
# keys at 2^k rows, aggregation proof, native + in-process EVM verification). Prints a markdown
# table with wall time and peak RSS of the aggregate step. UNSAFE dev SRS (benchmark only).
# Heavy: about 5 minutes and 6 GB per model at k = 21, 10 minutes and 12 GB at k = 22 on 2 cores.
# Usage: bash benches/aggregate/run.sh [OUT_DIR] [model:k ...]   (the README rows at k 23:
#   bash benches/aggregate/run.sh out/aggregate digits_mlp_int8:23 digits_cnn:23 identity_match:23; 17 GB)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash verifier-contract/install.sh >&2
cargo build --release -q
Z="${CARGO_TARGET_DIR:-target}/release/zkinfer"
OUT="${1:-out/aggregate}"
shift || true
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(digits_mlp_int8:21 digits_cnn:21 digits_mlp_int8:22)
mkdir -p "$OUT"
echo "| model | model k | aggregation k | columns (advice/lookup/fixed) | public instances | calldata B | verifier B | verify gas | model prove s | setup s | aggregate prove s | peak RSS GB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${RUNS[@]}"; do
  m="${run%%:*}"; k="${run##*:}"
  d="$OUT/$m-k$k"
  rm -rf "$d"
  "$Z" compile "models/$m/model.onnx" -o "$d" --input-visibility hashed --output-visibility hashed > "$d.compile.log" 2>&1
  "$Z" setup "$d" > /dev/null 2>&1
  /usr/bin/time -v "$Z" aggregate "$d" --input "models/$m/input.json" --k "$k" --evm > "$d.log" 2> "$d.time"
  python3 - "$d" "$m" "$k" <<'PY'
import json, re, sys
d, m, k = sys.argv[1:]
log = open(d + ".log").read()
t = open(d + ".time").read()
s = json.load(open(f"{d}/settings.json"))
lay = json.load(open(f"{d}/aggregate/layout.json"))
a = json.load(open(f"{d}/aggregated.json"))
gas = re.search(r"gas used (\d+)", log).group(1)
size = re.search(r"deployed size (\d+)", log).group(1)
calldata = re.search(r"calldata (\d+) bytes", log).group(1)
setup = re.search(r"aggregation setup \(k = \d+\): ([\d.]+) s", log).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1e6
cols = f"{lay['num_advice']}/{lay['num_lookup_advice']}/{lay['num_fixed']}"
print(f"| {m} | {s['k']} | {k} | {cols} | {len(a['instances'])} | {int(calldata):,} | {int(size):,} | {int(gas):,} | {a['model_prove_seconds']:.2f} | {float(setup):.0f} | {a['aggregate_prove_seconds']:.0f} | {rss:.1f} |")
PY
done
