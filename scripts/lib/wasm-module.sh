#!/usr/bin/env bash
# The one build of a committed WebAssembly module, shared by scripts/build-gateway-web.sh
# and scripts/build-sdk-wasm.sh (which say what and where):
#
#   wasm-module.sh <crate> <out dir> <wasm-bindgen flags…> -- <files to commit…> [--check]
#
# Builds <crate> for wasm32-unknown-unknown in a target directory of its own
# (target/<crate>: nothing native is shared, and it does not wait for the workspace's
# builds), runs wasm-bindgen into a temporary directory, then copies <files> into
# <out dir>, or with --check fails when the committed files are not exactly what the
# sources build.
#
# Needs: the wasm32-unknown-unknown target and wasm-bindgen-cli at the version of the
# wasm-bindgen crate in Cargo.lock (scripts/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."

crate=$1
out=$2
shift 2
flags=()
while [ "$1" != "--" ]; do
  flags+=("$1")
  shift
done
shift
check=false
files=()
for a in "$@"; do
  case "$a" in
    --check) check=true ;;
    -*) echo "unknown option $a (only --check)" >&2; exit 2 ;;
    *) files+=("$a") ;;
  esac
done
target_dir=target/$crate

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen-cli $want is needed (found: ${have:-none}); run scripts/install-deps.sh" >&2
  exit 1
fi

# Reproducible: no path of this machine in the module (panic locations name source files).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="--remap-path-prefix=$PWD=/planbok --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
cargo build -p "$crate" --release --target wasm32-unknown-unknown --locked --quiet \
  --target-dir "$target_dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen "${flags[@]}" --out-dir "$tmp" \
  "$target_dir/wasm32-unknown-unknown/release/${crate//-/_}.wasm"

if $check; then
  for f in "${files[@]}"; do
    if ! cmp -s "$tmp/$f" "$out/$f"; then
      echo "$out/$f is not what the sources build: run the script that built it without --check and commit the result" >&2
      exit 1
    fi
  done
  echo "$out is what the sources of $crate build"
else
  mkdir -p "$out"
  for f in "${files[@]}"; do
    cp "$tmp/$f" "$out/"
  done
  ls -l "$out"
fi
