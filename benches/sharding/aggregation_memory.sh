#!/usr/bin/env bash
# Peak memory of each aggregation step (key generation and proof of every group and the root,
# k 21) against the aggregation circuit's columns: a synthetic attention block (function
# tables) cut into SHARDS shards of shape 6/3, so each shard proof costs the aggregation
# circuit what a nanoGPT shard's does (shape 6/3, tables, link digests). Samples the process's
# RSS every second and splits it at the `zkinfer-phase:` lines. Then checks the aggregated
# proof in the in-process EVM, natively (`aggregate --verify` with the key's hash), and that a
# changed output is refused. About 16 minutes for 5 shards on 2 cores (7 shards: a tree of
# three levels), 12 GB peak, 8 GB of keys in OUT (deleted at the end). UNSAFE dev SRS
# (benchmark only).
# Usage: bash benches/sharding/aggregation_memory.sh [OUT] [SHARDS]   (default out/aggmem, 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-out/aggmem}"
SHARDS="${2:-5}"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
rm -rf "$OUT" && mkdir -p "$OUT"
"$Z" synth-attention --tokens 8 --dim 16 -o "$OUT/model" > "$OUT/synth.log"
"$Z" compile "$OUT/model/model.onnx" -o "$OUT/d" --shards "$SHARDS" --width 6 --lookup-width 3 > "$OUT/compile.log"
"$Z" setup "$OUT/d" > "$OUT/setup.log" 2>&1
start=$(date +%s)
"$Z" aggregate "$OUT/d" --input "$OUT/model/input.json" --evm --phases --json > "$OUT/aggregate.json" \
  2> >(while IFS= read -r l; do echo "$(( $(date +%s) - start )) $l"; done > "$OUT/phases.log") &
pid=$!
while kill -0 $pid 2>/dev/null; do
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )) $rss" >> "$OUT/rss.log"
  sleep 1
done
wait $pid
sleep 1
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
phases = [(int(l.split()[0]), l.split("zkinfer-phase: ", 1)[1].strip()) for l in open(f"{out}/phases.log") if "zkinfer-phase:" in l]
rss = [tuple(map(int, l.split())) for l in open(f"{out}/rss.log")]
end = rss[-1][0] + 1 if rss else 0
print("| step | seconds | peak RSS |")
print("|---|---:|---:|")
for i, (t, what) in enumerate(phases):
    t2 = phases[i + 1][0] if i + 1 < len(phases) else end
    peak = max((r for s, r in rss if t <= s < t2), default=0)
    print(f"| {what} | {t2 - t} | {peak / 1e6:.1f} GB |")
print()
print("| aggregation circuit | advice | lookup advice | fixed | proving key |")
print("|---|---:|---:|---:|---:|")
for p in sorted(glob.glob(f"{out}/d/aggregate/**/layout.json", recursive=True)):
    l = json.load(open(p))
    d = os.path.dirname(p)
    pk = os.path.getsize(f"{d}/pk.bin") / 1e9 if os.path.exists(f"{d}/pk.bin") else 0
    print(f"| {os.path.relpath(d, out + '/d')} | {l['num_advice']} | {l['num_lookup_advice']} | {l['num_fixed']} | {pk:.1f} GB |")
PY
sha=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['aggregation_vk_hash'])" "$OUT/aggregate.json")
python3 - "$OUT/aggregate.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
e = r["evm"]
print(f"\naggregated proof: {r['proof_bytes']} bytes, {r['shards']} shards; EVM: valid={e['valid']}, {e['gas_used']:,} gas, "
      f"verifier {e['deployed_bytes']:,} bytes ({e['contracts']} contracts)")
PY
"$Z" aggregate "$OUT/d" --verify "$OUT/d/aggregated.json" --aggregation-vk "$sha" > "$OUT/verify.log" 2>&1
echo "native check: $(tail -1 "$OUT/verify.log")"
python3 - "$OUT/d/aggregated.json" "$OUT/changed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["outputs"][0]["quantized"][0] += 1
json.dump(d, open(sys.argv[2], "w"))
PY
if "$Z" aggregate "$OUT/d" --verify "$OUT/changed.json" --aggregation-vk "$sha" > "$OUT/changed.log" 2>&1; then
  echo "a changed output was ACCEPTED"; exit 1
fi
echo "changed output refused: $(tail -1 "$OUT/changed.log")"
python3 - "$OUT/d/aggregated.json" "$OUT/flipped.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["proof"]
i = len(p) // 2
d["proof"] = p[:i] + ("0" if p[i] != "0" else "1") + p[i + 1:]
json.dump(d, open(sys.argv[2], "w"))
PY
if "$Z" aggregate "$OUT/d" --verify "$OUT/flipped.json" --aggregation-vk "$sha" > "$OUT/flipped.log" 2>&1; then
  echo "a changed proof byte was ACCEPTED"; exit 1
fi
echo "changed proof byte refused: $(tail -1 "$OUT/flipped.log")"
find "$OUT/d" -name pk.bin -delete
