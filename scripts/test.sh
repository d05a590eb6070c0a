#!/usr/bin/env bash
# Runs every test: installs the pinned solcjs compiler (npm) the EVM tests need, then the
# cargo test suite in release mode (proving is too slow unoptimised), and prints the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
bash verifier-contract/install.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --release --workspace --lib --bins --tests "$@" 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log" | tee "${ZKINFER_TEST_SUMMARY:-/dev/null}"
