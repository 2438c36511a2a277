#!/usr/bin/env bash
# Builds the Gateway page's WebAssembly client (crates/planbok-gateway-web) into
# crates/planbok-server/gateway/pkg/, which the server embeds in its binary. The output is
# committed, so that building planbok needs no WebAssembly toolchain; CI runs this script
# with --check, which builds into a temporary directory and fails when the committed files
# are not exactly what the sources build (scripts/lib/wasm-module.sh does both).
#
# `--target no-modules`: the page loads it with a plain <script> (its CSP allows only
# this origin's scripts, each pinned by its hash).
set -euo pipefail
exec "$(dirname "$0")/lib/wasm-module.sh" planbok-gateway-web crates/planbok-server/gateway/pkg \
  --target no-modules --no-typescript -- \
  planbok_gateway_web.js planbok_gateway_web_bg.wasm "$@"
