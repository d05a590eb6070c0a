#!/usr/bin/env bash
# Runs every test: installs the pinned solcjs compiler (npm) the EVM tests need, then the
# cargo test suite in release mode (proving is too slow unoptimised).
set -euo pipefail
cd "$(dirname "$0")/.."
bash verifier-contract/install.sh
cargo test --release --workspace "$@"
