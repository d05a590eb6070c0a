#!/usr/bin/env bash
# Runs every test: installs the pinned solcjs compiler and forge (npm) the EVM tests need,
# runs the cargo test suite in release mode (proving is too slow unoptimised), then the
# Solidity contract tests with forge, and prints the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
bash verifier-contract/install.sh
log=$(mktemp)
flog=$(mktemp)
trap 'rm -f "$log" "$flog"' EXIT
cargo test --release --workspace --lib --bins --tests "$@" 2>&1 | tee "$log"
bash verifier-contract/test.sh 2>&1 | tee "$flog"
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     /^forge: / { p += $2; f += $4; i += $6 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log" "$flog" | tee "${ZKINFER_TEST_SUMMARY:-/dev/null}"
