#!/usr/bin/env bash
# EZKL vs zkinfer, side by side: sets up benches/compare/.venv (pinned ezkl, onnx, onnxruntime,
# numpy) if needed, then runs compare.py with the given arguments, e.g.
#   bash benches/compare/run.sh --json out/compare.json
#   bash benches/compare/run.sh --models ../shared/peer-models/1l_mlp
#   ZKINFER=/path/to/zkinfer bash benches/compare/run.sh --peer --calibrate
# Model paths are relative to the repository root.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.txt"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! cmp -s "$here/requirements.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi

zk="${ZKINFER:-target/release/zkinfer}"
case "$zk" in /*) ;; *) zk="$repo/$zk" ;; esac
if [ ! -x "$zk" ]; then
  if [ -n "${ZKINFER:-}" ]; then
    echo "ZKINFER=$ZKINFER is not an executable" >&2
    exit 1
  fi
  (cd "$repo" && cargo build --release --workspace --exclude zkinfer-python --bin zkinfer)
fi
ZKINFER="$zk" exec "$venv/bin/python" "$here/compare.py" "$@"
