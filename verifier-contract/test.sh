#!/usr/bin/env bash
# Run the Solidity tests (ModelRegistry / InferenceMarket) with Foundry's forge, compiling with
# the pinned solcjs through ./solc-js-wrapper. Works offline after ./install.sh (which this runs).
#
#   ./test.sh                      # install if needed, then forge test
#   ./test.sh --gas-report         # extra arguments go to `forge test`
#   ./test.sh --match-test test_happyPath_eth -vvvv
#
# FUZZ_RUNS / INVARIANT_RUNS / INVARIANT_DEPTH override foundry.toml's [fuzz] / [invariant]
# settings (e.g. FUZZ_RUNS=5000 for a longer campaign).
# Ends with one line "forge: N passed, N failed, N skipped"; the exit status is forge's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

bash ./install.sh

# Absolute compiler path, so forge finds the wrapper whatever the caller's directory.
export FOUNDRY_SOLC="$PWD/solc-js-wrapper"
export FOUNDRY_OFFLINE=true
if [ -n "${FUZZ_RUNS:-}" ]; then export FOUNDRY_FUZZ_RUNS="$FUZZ_RUNS"; fi
if [ -n "${INVARIANT_RUNS:-}" ]; then export FOUNDRY_INVARIANT_RUNS="$INVARIANT_RUNS"; fi
if [ -n "${INVARIANT_DEPTH:-}" ]; then export FOUNDRY_INVARIANT_DEPTH="$INVARIANT_DEPTH"; fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
node_modules/.bin/forge test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# forge's closing line: "Ran 6 test suites in ...: 58 tests passed, 0 failed, 0 skipped (58 total tests)"
sed -nE 's/.* ([0-9]+) tests passed, ([0-9]+) failed, ([0-9]+) skipped.*/forge: \1 passed, \2 failed, \3 skipped/p' "$log" | tail -n 1
exit "$rc"
