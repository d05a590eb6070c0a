#!/usr/bin/env bash
# Runs every test: installs the pinned solcjs compiler and forge (npm) the EVM tests need,
# runs the cargo test suite in release mode (proving is too slow unoptimised), the Solidity
# contract tests with forge, then builds the Python wheel, installs it into a fresh venv and
# runs its pytest suite; prints the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
bash verifier-contract/install.sh
log=$(mktemp)
flog=$(mktemp)
plog=$(mktemp)
trap 'rm -f "$log" "$flog" "$plog"' EXIT
# (the Python extension module is built and tested by scripts/test-python.sh, as a wheel)
cargo test --release --workspace --exclude zkinfer-python --lib --bins --tests "$@" 2>&1 | tee "$log"
bash verifier-contract/test.sh 2>&1 | tee "$flog"
bash scripts/test-python.sh 2>&1 | tee "$plog"
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     /^forge: / { p += $2; f += $4; i += $6 }
     /^pytest: / { p += $2; f += $4; i += $6 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log" "$flog" "$plog" | tee "${ZKINFER_TEST_SUMMARY:-/dev/null}"
