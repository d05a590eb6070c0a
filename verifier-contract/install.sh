#!/usr/bin/env bash
# Install the pinned npm tools into verifier-contract/node_modules (exact versions from
# package-lock.json):
#   - solcjs, npm package `solc` 0.8.19 (compile.js, and forge through ./solc-js-wrapper);
#   - Foundry's forge, npm package `@foundry-rs/forge` (its binary comes in the optional
#     platform package `@foundry-rs/forge-<os>-<arch>`), used by ./test.sh;
#   - Foundry's anvil (`@foundry-rs/anvil-<os>-<arch>`), the local node of the Rust market
#     integration test (service/tests/market_anvil.rs).
# Nothing is downloaded at run time afterwards (forge is configured offline, see foundry.toml).
# Idempotent: does nothing when both are already installed (FORCE=1 reinstalls).
# Uses `npm ci` (falls back to `npm install` when there is no lock file).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

forge_ok() { node_modules/.bin/forge --version >/dev/null 2>&1; }
anvil_ok() { node_modules/.bin/anvil --version >/dev/null 2>&1; }

if [ -f node_modules/solc/package.json ] && forge_ok && anvil_ok && [ "${FORCE:-0}" != "1" ]; then
  echo "verifier-contract: solc $(node -p 'require("./node_modules/solc/package.json").version'), $(node_modules/.bin/forge --version | head -n1) and anvil already installed"
  exit 0
fi

command -v node >/dev/null || { echo "verifier-contract: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "verifier-contract: npm is not installed" >&2; exit 1; }

# --include=dev/optional: forge is a devDependency and its binary an optional dependency;
# install them even when NODE_ENV=production or npm's omit config is set.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --include=dev --include=optional
else
  npm install --no-audit --no-fund --include=dev --include=optional
fi
echo "verifier-contract: installed solc $(node -p 'require("./node_modules/solc/package.json").version')"
if forge_ok; then
  echo "verifier-contract: installed $(node_modules/.bin/forge --version | head -n1)"
else
  echo "verifier-contract: warning: forge did not install (no prebuilt binary for $(uname -s)/$(uname -m)?); compile.js still works, ./test.sh will not" >&2
fi
if anvil_ok; then
  echo "verifier-contract: installed $(node_modules/.bin/anvil --version | head -n1)"
else
  echo "verifier-contract: warning: anvil did not install; the anvil integration test will report it" >&2
fi
