#!/usr/bin/env bash
# A/B of two zkinfer binaries on the scaling models: the same circuits and keys, prove
# alternated A then B, twice per model; prints setup and prove seconds of each.
#   bash benches/scaling/ab.sh A_BINARY B_BINARY [OUT_DIR]
# (e.g. A built with `cargo build --release -p zkinfer-service --no-default-features`, B with
# the default `asm`). Both binaries must lay out circuits identically (same source otherwise).
set -euo pipefail
A=$1; B=$2; O=${3:-out/scaling-ab}
rm -rf "$O"; mkdir -p "$O"
seconds() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['prove_seconds'])" "$1"; }
for e in mlp:256,320,64 cnn:1,16,16/8,16 mlp:1024,896,128 cnn:1,32,32/16,32; do
  fam=${e%%:*}; spec=${e#*:}; d=$O/$fam-$(echo "$spec" | tr ',/' 'x-')
  if [ "$fam" = mlp ]; then "$B" synth-mlp --layers "$spec" -o "$d/model" > /dev/null
  else "$B" synth-cnn --input "${spec%/*}" --channels "${spec#*/}" -o "$d/model" > /dev/null; fi
  "$B" compile "$d/model/model.onnx" -o "$d" --optimize prove > /dev/null 2>&1
  t0=$(date +%s.%N); "$A" setup "$d" > /dev/null 2>&1; t1=$(date +%s.%N); "$B" setup "$d" > /dev/null 2>&1; t2=$(date +%s.%N)
  k=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['k'])" "$d/settings.json")
  for r in 1 2; do
    "$A" prove "$d" --input "$d/model/input.json" > /dev/null 2>&1; pa=$(seconds "$d/proof.json")
    "$B" prove "$d" --input "$d/model/input.json" > /dev/null 2>&1; pb=$(seconds "$d/proof.json")
    "$B" verify "$d" "$d/proof.json" > /dev/null 2>&1
    echo "$fam $spec k $k: setup A $(echo "$t1 - $t0" | bc) s, B $(echo "$t2 - $t1" | bc) s; prove run $r: A $pa s, B $pb s"
  done
  rm -f "$d/pk.bin"
done
