#!/usr/bin/env bash
# Direct-proof verification gas of every bundled model (models/, models/zoo/) and every shared
# peer model (../shared/peer-models, when present): each is compiled with the default
# objective (balanced) and, where that verifier costs over 400k gas, with `--optimize gas`
# too; set up and proved (UNSAFE dev SRS, benchmark only) on its own input.json; and its
# Solidity verifier run in the in-process EVM (`zkinfer evm-verifier`: whole-transaction gas,
# calldata and the 21k base included; and without them, "execution": what the verifier itself
# costs; EIP-7623's calldata floor, which binds for proofs with many public words, aside). A
# shape marked "column" keeps its public words in a committed column (compile
# --public-column). Prints a markdown table and writes OUT/direct_gas.csv.
# Usage: bash benches/costmodel/direct_gas.sh [--only SUBSTRING] [OUT]   (about 30 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY=""
if [ "${1:-}" = --only ]; then ONLY="$2"; shift 2; fi
OUT="${1:-out/direct_gas}"
mkdir -p "$OUT"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
[ -d verifier-contract/node_modules/solc ] || bash verifier-contract/install.sh > /dev/null
TARGET=400000
dirs=""
for d in models/*/ models/zoo/*/ ../shared/peer-models/*/; do
  [ -f "$d/input.json" ] || continue
  [ -f "$d/model.onnx" ] || [ -f "$d/network.onnx" ] || continue
  case "$d" in *"$ONLY"*) dirs="$dirs $d" ;; esac
done
echo "model,objective,width,lookup_width,tables,k,instances,prove_s,verifier_bytes,contracts,gas,execution_gas,note" > "$OUT/direct_gas.csv"
echo "| model | objective | shape | k | public instances | prove s | verifier bytes | gas | execution gas |"
echo "|---|---|---|---|---|---|---|---|---|"
run() { # dir name objective
  local src="$1" name="$2" obj="$3"
  local onnx="$src/model.onnx"; [ -f "$onnx" ] || onnx="$src/network.onnx"
  local d="$OUT/$(echo "$name" | tr / _)-$obj"
  rm -rf "$d"
  # (ZKINFER_COMPILE_ARGS: more compile flags, e.g. "--public-column never" for the comparison)
  # shellcheck disable=SC2086
  if ! "$Z" compile "$onnx" -o "$d" --optimize "$obj" --input "$src/input.json" ${ZKINFER_COMPILE_ARGS:-} > "$d.log" 2>&1; then
    echo "$name,$obj,,,,,,,,,,,compile: $(tail -1 "$d.log" | tr -d ',' | cut -c1-120)" >> "$OUT/direct_gas.csv"
    echo "| $name | $obj | not compiled: $(tail -1 "$d.log" | cut -c1-100) | | | | | |"
    return 1
  fi
  if [ -f "$d/shards.json" ]; then
    # (a sharded model is verified through its aggregated proof: benches/sharding)
    echo "$name,$obj,,,,,,,,,,,sharded: see benches/sharding" >> "$OUT/direct_gas.csv"
    echo "| $name | $obj | sharded: verified through its aggregated proof (benches/sharding) | | | | | |"
    return 1
  fi
  "$Z" setup "$d" >> "$d.log" 2>&1 && "$Z" prove "$d" --input "$src/input.json" >> "$d.log" 2>&1 \
    && "$Z" evm-verifier "$d" --json > "$d.evm.json" 2>> "$d.log" || { echo "| $name | $obj | failed: $(tail -1 "$d.log" | cut -c1-100) | | | | | |"; return 1; }
  python3 - "$d" "$name" "$obj" "$OUT/direct_gas.csv" <<'PY'
import json, sys
d, name, obj, csv = sys.argv[1:]
s = json.load(open(f"{d}/settings.json")); p = json.load(open(f"{d}/proof.json")); e = json.load(open(f"{d}.evm.json"))
sh = s["shape"]
ex = e.get("execution_gas", e["gas_used"] - 21000 - e["calldata_gas"])
row = [name, obj, sh["width"], sh["lookup_width"], int(sh.get("tables", False)), s["k"], s["num_instances"], round(p["prove_seconds"], 2), e.get("deployed_bytes_total"), e.get("contracts"), e.get("gas_used"), ex, ""]
open(csv, "a").write(",".join(str(v) for v in row) + "\n")
shape = f"{sh['width']}/{sh['lookup_width']}" + (" tables" if sh.get("tables") else "") + (" hash" if sh.get("hash") else "") + (" column" if sh.get("public_column") else "")
print(f"| {name} | {obj} | {shape} | {s['k']} | {s['num_instances']} | {p['prove_seconds']:.2f} | {e.get('deployed_bytes_total'):,} | {e.get('gas_used'):,} | {ex:,} |")
PY
}
for src in $dirs; do
  src="${src%/}"
  name=$(echo "$src" | sed 's|^models/||; s|^\.\./shared/peer-models/|peer/|')
  run "$src" "$name" balanced || continue
  gas=$(tail -1 "$OUT/direct_gas.csv" | cut -d, -f12)
  if [ -n "$gas" ] && [ "$gas" -gt "$TARGET" ]; then
    run "$src" "$name" gas || true
  fi
done
python3 - "$OUT/direct_gas.csv" "$TARGET" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]))); target = int(sys.argv[2])
for col in ["gas", "execution_gas"]:
    best = {}
    for r in rows:
        if r[col]:
            best[r["model"]] = min(best.get(r["model"], 10**9), int(r[col]))
    ok = sum(1 for g in best.values() if g <= target)
    bal = [int(r[col]) for r in rows if r["objective"] == "balanced" and r[col]]
    print(f"{col}: {len(best)} models verified; {ok} within {target:,} with the better objective; "
          f"balanced: {sum(1 for g in bal if g <= target)} of {len(bal)} within, {min(bal):,}-{max(bal):,}; over: "
          + ", ".join(f"{m} {g:,}" for m, g in sorted(best.items()) if g > target))
PY
