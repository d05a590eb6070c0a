#!/usr/bin/env bash
# Regenerate every model/fixture under models/ (see models/README.md).
# Creates models/.venv (gitignored) on first use, installs the pinned
# requirements, then runs models/gen.py. Safe to rerun.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PY" -m venv "$VENV"
fi

# Reinstall only when requirements.txt changed since the last successful install.
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$HERE/requirements.txt"
  echo "$WANT" > "$STAMP"
fi

# Determinism: single-threaded BLAS / OpenMP, fixed hash seed.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
export PYTHONDONTWRITEBYTECODE=1

exec "$VENV/bin/python" "$HERE/gen.py" "$@"
