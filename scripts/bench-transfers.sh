#!/usr/bin/env bash
# Transfers per second and time to `confirmed` through `planbok bench`, against anvil
# impersonating Sepolia with 1 s blocks (docs/benchmarks.md, "Transfers on anvil").
#
# Usage (release build first):
#   cargo build --release -p planbok-cli
#   scripts/bench-transfers.sh [target/release/planbok] [duration, default 30s]
#
# A fresh `planbok dev` data directory in a temporary folder on ports 18080/17701 and anvil
# on 18545; both are stopped at the end. Prints one JSON report per run.
set -euo pipefail
bin=$(realpath "${1:-target/release/planbok}")
duration=${2:-30s}
cd "$(dirname "$0")/.."
primes=$PWD/crates/planbok-mpc/tests/fixtures/paillier-primes.json
data=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

anvil --chain-id 11155111 --port 18545 --block-time 1 --silent &
pids+=($!)
"$bin" dev --data "$data/dev" --port 18080 --node-port 17701 \
    --rpc ETH-SEPOLIA=http://127.0.0.1:18545 \
    --insecure-pregenerated-primes "$primes" >"$data/dev.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
    [ -f "$data/dev/operator.token" ] && curl -sf http://127.0.0.1:18080/health >/dev/null 2>&1 && break
    sleep 0.5
done
export PLANBOK_URL=http://127.0.0.1:18080
PLANBOK_OPERATOR_TOKEN=$(cat "$data/dev/operator.token")
export PLANBOK_OPERATOR_TOKEN

run() {
    echo "== $*" >&2
    "$bin" bench --protocols dkls23 --fund-rpc http://127.0.0.1:18545 --json "$@"
}
# Eight wallets: transfers from one wallet queue on its nonce lease.
for clients in 1 8 16; do
    run --mix transfer --wallets 8 --clients "$clients" --duration "$duration"
done
for clients in 1 8; do
    run --mix transfer-confirmed --wallets 8 --clients "$clients" --duration "$duration"
done
