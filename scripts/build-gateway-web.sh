#!/usr/bin/env bash
# Builds the Gateway page's WebAssembly client (crates/planbok-gateway-web) into
# crates/planbok-server/gateway/pkg/, which the server embeds in its binary. The output is
# committed, so that building planbok needs no WebAssembly toolchain; CI runs this script
# with --check, which builds into a temporary directory and fails when the committed files
# are not exactly what the sources build.
#
# Needs: the wasm32-unknown-unknown target and wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (scripts/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
if [ "${1:-}" = "--check" ]; then
  check=true
fi
out=crates/planbok-server/gateway/pkg
# A target directory of its own: nothing native is shared, and it does not wait for the
# workspace's builds.
target_dir=target/gateway-web

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run scripts/install-deps.sh" >&2
  exit 1
fi

# Reproducible: no path of this machine in the module (panic locations name source files).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$PWD=/planbok --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
cargo build -p planbok-gateway-web --release --target wasm32-unknown-unknown --locked --quiet \
  --target-dir "$target_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target no-modules --no-typescript --out-dir "$tmp" \
  "$target_dir/wasm32-unknown-unknown/release/planbok_gateway_web.wasm"

if $check; then
  for f in planbok_gateway_web.js planbok_gateway_web_bg.wasm; do
    if ! cmp -s "$tmp/$f" "$out/$f"; then
      echo "$out/$f is not what the sources build: run scripts/build-gateway-web.sh and commit the result" >&2
      exit 1
    fi
  done
  echo "the Gateway's WebAssembly client is up to date"
else
  mkdir -p "$out"
  cp "$tmp/planbok_gateway_web.js" "$tmp/planbok_gateway_web_bg.wasm" "$out/"
  ls -l "$out"
fi
