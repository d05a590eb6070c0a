#!/usr/bin/env bash
# Builds the zkinfer Python wheel (PyO3 + maturin, one abi3 wheel) from this workspace,
# installs it into a FRESH venv and runs python/tests with pytest.
#   bash scripts/test-python.sh            # build, install, test
#   bash scripts/test-python.sh -k gil     # extra arguments go to pytest
# Prints "pytest: N passed, N failed, N skipped" last; the exit status is pytest's.
# The wheel is left in python/dist/ (pip install python/dist/zkinfer-*.whl elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
tools=python/.venv-build
if [ ! -x "$tools/bin/maturin" ] || ! cmp -s python/requirements-test.txt "$tools/requirements.txt"; then
  rm -rf "$tools"
  "$py" -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check -r python/requirements-test.txt
  cp python/requirements-test.txt "$tools/requirements.txt"
fi
rm -rf python/dist
(cd python && "$root/$tools/bin/maturin" build --release --strip --interpreter "$root/$tools/bin/python" -o dist)
wheel=$(ls python/dist/zkinfer-*.whl)
# a fresh venv every run: the wheel must install and work on its own
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$py" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel" "$(grep '^pytest==' python/requirements-test.txt)" "$(grep '^numpy==' python/requirements-test.txt)"
log=$(mktemp)
set +e
# run from outside the repository's python/ folder, so that `import zkinfer` is the installed wheel
(cd "$(dirname "$venv")" && "$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests" "$@") 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
awk '/ (passed|failed|skipped|error)/ && /in [0-9.]+s/ {
       for (i = 1; i <= NF; i++) { gsub(/[=,]/, "", $(i+1)); if ($(i+1) ~ /^passed/) p = $i; if ($(i+1) ~ /^failed/) f = $i; if ($(i+1) ~ /^skipped/) s = $i; if ($(i+1) ~ /^error/) f += $i }
     }
     END { printf "pytest: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$rc"
