#!/usr/bin/env bash
# Scaling curve: prove time and peak memory against model size (MACs) for a synthetic float MLP
# family (`zkinfer synth-mlp`), 10^3..10^6 MACs (add --heavy for 10^7). Prints a markdown
# table, writes OUT/scaling.csv and OUT/scaling.png (matplotlib in benches/scaling/.venv).
# UNSAFE dev SRS: `setup s` is the wall clock of `zkinfer setup`, which includes generating it;
# `prove s` is the proof file's prove_seconds (execution, layout and proving; no SRS or key
# loading); peak RSS is the whole `zkinfer prove` process.
# Usage: bash benches/scaling/run.sh [--heavy] [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
HEAVY=0
if [ "${1:-}" = --heavy ]; then HEAVY=1; shift; fi
OUT="${1:-out/scaling}"
mkdir -p "$OUT"
cargo build --release -q
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
SIZES="32,24,10 96,96,10 256,320,64 1024,896,128"
[ $HEAVY = 1 ] && SIZES="$SIZES 3072,3072,256"
echo "macs,layers,k,rows,cols,setup_s,prove_s,prove_peak_mb" > "$OUT/scaling.csv"
echo "| MLP layers | MACs | k | rows | cols | setup s | prove s | prove peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for L in $SIZES; do
  d="$OUT/mlp-${L//,/x}"
  rm -rf "$d"
  "$Z" synth-mlp --layers "$L" -o "$d/model" > /dev/null
  "$Z" compile "$d/model/model.onnx" -o "$d" > "$d.compile.log" 2>&1
  t0=$(date +%s.%N); "$Z" setup "$d" > "$d.setup.log" 2>&1; t1=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$d.rss" "$Z" prove "$d" --input "$d/model/input.json" > "$d.prove.log" 2>&1
  python3 - "$d" "$L" "$(echo "$t1 - $t0" | bc)" "$(cat "$d.rss")" "$OUT/scaling.csv" <<'PY'
import json, sys
d, layers, setup_s, rss_kb, csv = sys.argv[1:]
s = json.load(open(f"{d}/settings.json")); p = json.load(open(f"{d}/proof.json"))
w = [int(x) for x in layers.split(",")]
macs = sum(a * b for a, b in zip(w, w[1:]))
row = [macs, layers.replace(",", "x"), s["k"], s["rows"], s["shape"]["width"], float(setup_s), p["prove_seconds"], int(rss_kb) / 1024]
open(csv, "a").write(",".join(str(v) for v in row) + "\n")
print(f"| {row[1]} | {macs:,} | {row[2]} | {row[3]:,} | {row[4]} | {row[5]:.2f} | {row[6]:.2f} | {row[7]:.0f} |")
PY
done
# the plot
VENV=benches/scaling/.venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q -r benches/scaling/requirements.txt
"$VENV/bin/python" - "$OUT/scaling.csv" "$OUT/scaling.png" <<'PY'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
macs = [float(r["macs"]) for r in rows]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(macs, [float(r["prove_s"]) for r in rows], "o-", label="prove s")
ax.loglog(macs, [float(r["setup_s"]) for r in rows], "s--", label="setup s")
ax.set_xlabel("MACs (synthetic float MLP)"); ax.set_ylabel("seconds (2 cores)")
ax2 = ax.twinx(); ax2.loglog(macs, [float(r["prove_peak_mb"]) for r in rows], "^:", color="tab:red", label="prove peak RSS MB")
ax2.set_ylabel("MB")
fig.legend(loc="upper left"); fig.tight_layout(); fig.savefig(sys.argv[2], dpi=120)
print(f"plot -> {sys.argv[2]}")
PY
