#!/usr/bin/env bash
# Builds the TypeScript SDK's organization-secret module (crates/planbok-sdk-wasm) into
# sdk-js/wasm/, which @planbok/sdk ships and loads. The output is committed, so that
# building or installing the SDK needs no Rust or WebAssembly toolchain; CI runs this
# script with --check, which builds into a temporary directory and fails when the
# committed files are not exactly what the sources build.
#
# `--target web`: an ES module with `initSync`, which the SDK (a `"type": "module"`
# package, node >= 20) calls with the .wasm bytes it reads beside it (sdk-js/src/wasm.ts).
#
# Needs: the wasm32-unknown-unknown target and wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (scripts/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
if [ "${1:-}" = "--check" ]; then
  check=true
fi
out=sdk-js/wasm
# A target directory of its own: nothing native is shared, and it does not wait for the
# workspace's builds.
target_dir=target/sdk-wasm
files=(planbok_sdk_wasm.js planbok_sdk_wasm.d.ts planbok_sdk_wasm_bg.wasm)

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run scripts/install-deps.sh" >&2
  exit 1
fi

# Reproducible: no path of this machine in the module (panic locations name source files).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$PWD=/planbok --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
cargo build -p planbok-sdk-wasm --release --target wasm32-unknown-unknown --locked --quiet \
  --target-dir "$target_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --out-dir "$tmp" \
  "$target_dir/wasm32-unknown-unknown/release/planbok_sdk_wasm.wasm"

if $check; then
  for f in "${files[@]}"; do
    if ! cmp -s "$tmp/$f" "$out/$f"; then
      echo "$out/$f is not what the sources build: run scripts/build-sdk-wasm.sh and commit the result" >&2
      exit 1
    fi
  done
  echo "the SDK's WebAssembly module is up to date"
else
  mkdir -p "$out"
  for f in "${files[@]}"; do
    cp "$tmp/$f" "$out/"
  done
  ls -l "$out"
fi
