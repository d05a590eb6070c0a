#!/usr/bin/env bash
# Install the pinned solcjs compiler (npm package `solc`, see package.json) into
# verifier-contract/node_modules. Idempotent: does nothing when node_modules/solc exists.
# Uses `npm ci` (exact versions from package-lock.json); falls back to `npm install`
# when there is no lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -f node_modules/solc/package.json ] && [ "${FORCE:-0}" != "1" ]; then
  echo "verifier-contract: solc $(node -p 'require("./node_modules/solc/package.json").version') already installed"
  exit 0
fi

command -v node >/dev/null || { echo "verifier-contract: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "verifier-contract: npm is not installed" >&2; exit 1; }

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
echo "verifier-contract: installed solc $(node -p 'require("./node_modules/solc/package.json").version')"
