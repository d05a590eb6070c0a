#!/usr/bin/env bash
# Scaling curve: prove time and peak memory against model size (MACs) for two synthetic float
# families, MLPs (`zkinfer synth-mlp`) and CNNs (`zkinfer synth-cnn`: 3x3 conv + Relu + 2x2
# max pool stages, then one Gemm), 10^3..10^6 MACs (add --heavy for 10^7). Prints a markdown
# table, writes OUT/scaling.csv and OUT/scaling.png (matplotlib in benches/scaling/.venv).
# UNSAFE dev SRS: `setup s` is the wall clock of `zkinfer setup`, which includes generating it;
# `prove s` is the proof file's prove_seconds (execution, layout and proving; no SRS or key
# loading); peak RSS is the whole `zkinfer prove` process. `predicted s` is the cost model's
# prediction (settings.json, prover/src/cost.rs).
# Usage: bash benches/scaling/run.sh [--heavy] [--family mlp|cnn] [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
HEAVY=0
FAMILIES="mlp cnn"
while [ $# -gt 0 ]; do
  case "$1" in
    --heavy) HEAVY=1; shift ;;
    --family) FAMILIES="$2"; shift 2 ;;
    *) break ;;
  esac
done
OUT="${1:-out/scaling}"
mkdir -p "$OUT"
cargo build --release -q --workspace --exclude zkinfer-python --bin zkinfer
Z="${CARGO_TARGET_DIR:-$(pwd)/target}/release/zkinfer"
# family:spec (mlp: layer widths; cnn: input C,H,W / conv channels)
SIZES=""
for f in $FAMILIES; do
  case "$f" in
    mlp) SIZES="$SIZES mlp:32,24,10 mlp:96,96,10 mlp:256,320,64 mlp:1024,896,128"
         [ $HEAVY = 1 ] && SIZES="$SIZES mlp:3072,3072,256" ;;
    cnn) SIZES="$SIZES cnn:1,8,8/2 cnn:1,16,16/4 cnn:1,16,16/8,16 cnn:1,32,32/16,32"
         [ $HEAVY = 1 ] && SIZES="$SIZES cnn:3,32,32/32,64,128" ;;
    *) echo "unknown family $f (mlp or cnn)" >&2; exit 2 ;;
  esac
done
echo "family,macs,model,k,rows,cols,setup_s,prove_s,predicted_s,prove_peak_mb" > "$OUT/scaling.csv"
echo "| family | model | MACs | k | rows | cols | setup s | prove s | predicted s | prove peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for e in $SIZES; do
  fam=${e%%:*}; spec=${e#*:}
  name=$(echo "$spec" | tr ',/' 'x-')
  d="$OUT/$fam-$name"
  rm -rf "$d"
  if [ "$fam" = mlp ]; then
    "$Z" synth-mlp --layers "$spec" -o "$d/model" > "$d.synth.log"
  else
    "$Z" synth-cnn --input "${spec%/*}" --channels "${spec#*/}" -o "$d/model" > "$d.synth.log"
  fi
  macs=$(grep -o '[0-9]* MACs' "$d.synth.log" | cut -d' ' -f1)
  "$Z" compile "$d/model/model.onnx" -o "$d" --optimize prove > "$d.compile.log" 2>&1
  t0=$(date +%s.%N); "$Z" setup "$d" > "$d.setup.log" 2>&1; t1=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$d.rss" "$Z" prove "$d" --input "$d/model/input.json" > "$d.prove.log" 2>&1
  python3 - "$d" "$fam" "$name" "$macs" "$(echo "$t1 - $t0" | bc)" "$(cat "$d.rss")" "$OUT/scaling.csv" <<'PY'
import json, sys
d, fam, name, macs, setup_s, rss_kb, csv = sys.argv[1:]
s = json.load(open(f"{d}/settings.json")); p = json.load(open(f"{d}/proof.json"))
macs = int(macs)
row = [fam, macs, name, s["k"], s["rows"], f'{s["shape"]["width"]}/{s["shape"]["lookup_width"]}', float(setup_s), p["prove_seconds"], s["cost"]["prove_seconds"], int(rss_kb) / 1024]
open(csv, "a").write(",".join(str(v) for v in row) + "\n")
print(f"| {fam} | {name} | {macs:,} | {row[3]} | {row[4]:,} | {row[5]} | {row[6]:.2f} | {row[7]:.2f} | {row[8]:.2f} | {row[9]:.0f} |")
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
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for fam, color in (("mlp", "tab:blue"), ("cnn", "tab:orange")):
    rs = [r for r in rows if r["family"] == fam]
    if not rs:
        continue
    macs = [float(r["macs"]) for r in rs]
    ax.loglog(macs, [float(r["prove_s"]) for r in rs], "o-", color=color, label=f"{fam} prove s")
    ax.loglog(macs, [float(r["predicted_s"]) for r in rs], "x:", color=color, label=f"{fam} predicted prove s")
    ax.loglog(macs, [float(r["setup_s"]) for r in rs], "s--", color=color, alpha=0.6, label=f"{fam} setup s")
    ax2.loglog(macs, [float(r["prove_peak_mb"]) for r in rs], "^-", color=color, label=f"{fam} prove peak RSS MB")
ax.set_xlabel("MACs (synthetic float models)"); ax.set_ylabel("seconds (2 cores)"); ax.legend(fontsize=7)
ax2.set_xlabel("MACs"); ax2.set_ylabel("MB"); ax2.legend(fontsize=7)
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=120)
print(f"plot -> {sys.argv[2]}")
PY
