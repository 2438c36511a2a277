#!/usr/bin/env bash
# Builds the TypeScript SDK's organization-secret module (crates/planbok-sdk-wasm) into
# sdk-js/wasm/, which @planbok/sdk ships and loads. The output is committed, so that
# building or installing the SDK needs no Rust or WebAssembly toolchain; CI runs this
# script with --check, which builds into a temporary directory and fails when the
# committed files are not exactly what the sources build (scripts/lib/wasm-module.sh does
# both).
#
# `--target web`: an ES module with `initSync`, which the SDK (a `"type": "module"`
# package, node >= 20) calls with the .wasm bytes it reads beside it (sdk-js/src/wasm.ts).
set -euo pipefail
exec "$(dirname "$0")/lib/wasm-module.sh" planbok-sdk-wasm sdk-js/wasm \
  --target web -- \
  planbok_sdk_wasm.js planbok_sdk_wasm.d.ts planbok_sdk_wasm_bg.wasm "$@"
