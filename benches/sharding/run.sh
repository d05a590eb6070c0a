#!/usr/bin/env bash
# Sharded proving against one circuit, as a curve over model size: synthetic CNNs
# (`zkinfer synth-cnn`: 3x3 conv + Relu + 2x2 max pool stages, then one Gemm) compiled once as
# one circuit and once cut into shards no larger than 2^(k_single - 1) rows (`compile
# --max-k`; when one node is too large for that, $SHARDS (default 2) shards balanced by
# predicted time, `--shards`), each set up and proved; prints a markdown table (prove: wall time of `zkinfer
# prove`, key and SRS loading included in both modes; peak RSS of that process;
# microseconds per MAC-core on this machine's cores) and writes
# OUT/sharding.csv. The default sizes take a few minutes; --heavy adds the 10^7-MAC CNN (about
# 25 minutes and 8.4 GB for its single circuit) and --heavier the 10^8-MAC one (hours; its
# single circuit at k 24 needs more memory than 24 GB, so only the shards run).
# UNSAFE dev SRS (benchmark only): `setup s` includes deriving it.
# Usage: bash benches/sharding/run.sh [--heavy] [--heavier] [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
HEAVY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --heavy) HEAVY=1; shift ;;
    --heavier) HEAVY=2; shift ;;
    *) break ;;
  esac
done
OUT="${1:-out/sharding}"
mkdir -p "$OUT"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
CORES=$(nproc)
SHARDS="${SHARDS:-2}"
# input C,H,W / conv channels [/ "shards-only"]
SIZES="1,32,32/16,32 3,32,32/16,32,64 3,48,48/16,32,64"
[ $HEAVY -ge 1 ] && SIZES="$SIZES 3,32,32/32,64,128"
[ $HEAVY -ge 2 ] && SIZES="$SIZES 3,64,64/64,128,256/shards-only"
echo "model,macs,mode,shards,ks,rows,setup_s,prove_s,peak_mb,us_per_mac_core" > "$OUT/sharding.csv"
echo "| model | MACs | mode | shards (k) | setup s | prove s | peak RSS MB | µs per MAC-core |"
echo "|---|---|---|---|---|---|---|---|"
for e in $SIZES; do
  input=$(echo "$e" | cut -d/ -f1); channels=$(echo "$e" | cut -d/ -f2); only=$(echo "$e" | cut -d/ -f3)
  name="cnn-$(echo "$input-$channels" | tr ',' 'x')"
  m="$OUT/$name/model"
  rm -rf "$OUT/$name"
  mkdir -p "$OUT/$name"
  "$Z" synth-cnn --input "$input" --channels "$channels" -o "$m" > "$OUT/$name/synth.log"
  macs=$(grep -o '[0-9]* MACs' "$OUT/$name/synth.log" | cut -d' ' -f1)
  # the single circuit's k decides the shard target (one below it)
  "$Z" compile "$m/model.onnx" -o "$OUT/$name/single" --optimize prove > "$OUT/$name/single.compile.log" 2>&1
  k=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['k'])" "$OUT/$name/single/settings.json")
  modes="single sharded"
  [ "$only" = "shards-only" ] && modes="sharded"
  for mode in $modes; do
    d="$OUT/$name/$mode"
    # sharded: the fewest shards within 2^(k-1) rows, else (cuts fall between nodes only, and
    # one node may need more) $SHARDS shards balanced by predicted time
    if [ "$mode" = sharded ] && ! "$Z" compile "$m/model.onnx" -o "$d" --max-k $((k - 1)) > "$d.compile.log" 2>&1 \
        && ! "$Z" compile "$m/model.onnx" -o "$d" --shards "$SHARDS" > "$d.compile.log" 2>&1; then
      echo "| $name | $macs | sharded | no plan: $(tail -1 "$d.compile.log" | cut -c8-160) | | | | |"
      continue
    fi
    t0=$(date +%s.%N); "$Z" setup "$d" > "$d.setup.log" 2>&1; t1=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$d.rss" "$Z" prove "$d" --input "$m/input.json" > "$d.prove.log" 2>&1
    t2=$(date +%s.%N)
    python3 - "$d" "$name" "$macs" "$mode" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(cat "$d.rss")" "$CORES" "$OUT/sharding.csv" <<'PY'
import json, os, sys
d, name, macs, mode, setup_s, prove_s, rss_kb, cores, csv = sys.argv[1:]
macs, setup_s, prove_s, cores = int(macs), float(setup_s), float(prove_s), int(cores)
plan = os.path.join(d, "shards.json")
if mode == "sharded" and os.path.exists(plan):
    shards = json.load(open(plan))["shards"]
    ks = [s["k"] for s in shards]
    rows = sum(s["rows"] for s in shards)
else:
    s = json.load(open(os.path.join(d, "settings.json")))
    ks, rows = [s["k"]], s["rows"]
us = prove_s * cores / macs * 1e6
row = [name, macs, mode, len(ks), "/".join(map(str, ks)), rows, round(setup_s, 2), round(prove_s, 2), int(rss_kb) // 1024, round(us, 1)]
open(csv, "a").write(",".join(str(v) for v in row) + "\n")
print(f"| {name} | {macs:,} | {mode} | {len(ks)} ({', '.join(map(str, ks))}) | {setup_s:.1f} | {prove_s:.1f} | {int(rss_kb) // 1024:,} | {us:.1f} |")
PY
  done
done
