#!/usr/bin/env bash
# The main job end to end on embedded defaults: installs the pinned solcjs compiler (npm,
# once; needed for the Solidity verifier step), then runs `zkinfer demo` (compile -> setup ->
# prove -> verify natively and in an in-process EVM, with tamper checks). Extra arguments go
# to `zkinfer demo` (e.g. --out DIR, --model DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash verifier-contract/install.sh >&2
cargo run --release -q -- demo "$@"
