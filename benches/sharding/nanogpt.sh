#!/usr/bin/env bash
# nanoGPT (../shared/peer-models/nanoGPT) end to end as 12 linked shards of k 21: plan, keys,
# shard proofs and their aggregation into one proof (checked in the in-process EVM), then the
# native check of the aggregated proof file. Heavy: about 1.9 hours on 2 cores, 18 GB peak,
# 62 GB of keys on disk (deleted at the end unless KEEP_KEYS=1). UNSAFE dev SRS (benchmark only).
# Prints one line per step (wall seconds, peak RSS) and the proof's gas; logs in OUT.
# Usage: bash benches/sharding/nanogpt.sh [OUT]   (default out/nanogpt)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-out/nanogpt}"
M="$OUT/model"
SRC="${NANOGPT:-../shared/peer-models/nanoGPT}"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
mkdir -p "$OUT"
step() { # name, command...
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$OUT/$name.rss" "$@" > "$OUT/$name.log" 2> "$OUT/$name.err"
  echo "$name: $(echo "$(date +%s.%N) - $t0" | bc | cut -d. -f1) s, peak $(( $(cat "$OUT/$name.rss") / 1024 )) MB"
}
step compile "$Z" compile "$SRC/network.onnx" -o "$M" --max-k 21 --input "$SRC/input.json"
grep -E "^shard [0-9]+:" "$OUT/compile.log" | head -20
step setup "$Z" setup "$M"
step aggregate "$Z" aggregate "$M" --input "$SRC/input.json" --evm --json
python3 - "$OUT/aggregate.log" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
e = r["evm"]
print(f"shard proofs {r['model_prove_seconds']:.0f} s, aggregation {r['aggregate_prove_seconds']:.0f} s, "
      f"proof {r['proof_bytes']} bytes; EVM: valid={e['valid']}, {e['gas_used']:,} gas, verifier {e['deployed_bytes']:,} bytes "
      f"({e['contracts']} contracts), calldata {e['calldata_bytes']:,} bytes; aggregation key {r['aggregation_vk_hash']}")
PY
sha=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['aggregation_vk_hash'])" "$OUT/aggregate.log")
step verify "$Z" aggregate "$M" --verify "$M/aggregated.json" --aggregation-vk "$sha" --evm
if [ "${KEEP_KEYS:-0}" != 1 ]; then
  find "$M" -name pk.bin -delete
fi
