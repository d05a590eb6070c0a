#!/usr/bin/env bash
# Runs every test: installs the pinned solcjs compiler and forge (npm) the EVM tests need,
# runs the cargo test suite in release mode (proving is too slow unoptimised), the Solidity
# contract tests with forge, then builds the Python wheel, installs it into a fresh venv and
# runs its pytest suite; prints the totals.
#
#   bash scripts/test.sh [--heavy] [CARGO TEST ARGS]
#
# --heavy also runs the heavy tests (ignored by default: each repeats a path the default tests
# cover, with more aggregation proofs, or is a larger variant of one): a batch through a
# wrapped root and the provider node settling one, the node proving a sharded model for the
# market, the shard-link attack without the native pre-check, and a tree of shard
# aggregations. About 50 min more on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
heavy=0
if [ "${1:-}" = "--heavy" ]; then
  heavy=1
  shift
fi
bash verifier-contract/install.sh
log=$(mktemp)
flog=$(mktemp)
plog=$(mktemp)
trap 'rm -f "$log" "$flog" "$plog"' EXIT
# (the Python extension module is built and tested by scripts/test-python.sh, as a wheel)
cargo test --release --workspace --exclude zkinfer-python --lib --bins --tests "$@" 2>&1 | tee "$log"
if [ "$heavy" = 1 ]; then
  # the same package selection as above: the same dependency features, nothing rebuilt
  cargo test --release --workspace --exclude zkinfer-python --test batch --test sharded --test aggregate_shards -- --ignored --exact \
    a_wrapped_batch_is_paid_and_the_provider_node_settles_one the_provider_node_proves_and_is_paid_for_a_sharded_model \
    glue_is_what_rejects_a_broken_link a_tree_of_aggregations_holds_the_links_between_groups 2>&1 | tee -a "$log"
fi
bash verifier-contract/test.sh 2>&1 | tee "$flog"
bash scripts/test-python.sh 2>&1 | tee "$plog"
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     /^forge: / { p += $2; f += $4; i += $6 }
     /^pytest: / { p += $2; f += $4; i += $6 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log" "$flog" "$plog" | tee "${ZKINFER_TEST_SUMMARY:-/dev/null}"
