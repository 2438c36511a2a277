#!/usr/bin/env bash
# Runs `cargo deny check` (advisories, bans, licenses, sources; policy in deny.toml) against
# the vendored RustSec snapshot in third_party/advisory-db, never fetching the database:
# CI reaches the package registries only. Extra arguments go to `cargo deny check`.
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot=third_party/advisory-db
date=$(sed -n 's/^date=//p' "$snapshot/SNAPSHOT")
commit=$(sed -n 's/^commit=//p' "$snapshot/SNAPSHOT")
age_days=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
echo "cargo-deny: RustSec advisory-db snapshot ${commit:0:12} of $date ($age_days days old)"
if (( age_days > 90 )); then
  echo "warning: the advisory snapshot is over 90 days old; refresh it (README.md, 'Dependency policy')" >&2
fi

# cargo-deny opens a database at <db-path>/<last URL segment>-<xxhash64 of the URL>, and
# reads its age from the git checkout there. The directory name below is the one for
# deny.toml's db-urls entry; if the URL changes, cargo-deny's error names the new one.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
db="$root/advisory-db-3157b0e258782691"
mkdir -p "$db"
cp -R "$snapshot/crates" "$db/"
git -C "$db" init -q
git -C "$db" add crates
GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
  git -C "$db" -c user.name=planbok -c user.email=ci@planbok.invalid \
  commit -q -m "advisory-db $commit"
# The fallback age is max(commit date, mtime of .git/HEAD): make both the snapshot's date,
# so maximum-db-staleness in deny.toml measures the snapshot, not this copy.
touch -d "$date" "$db/.git/HEAD"

# `--offline` also makes `cargo metadata` offline: have every crate of Cargo.lock locally.
cargo fetch --locked --quiet
PLANBOK_ADVISORY_DBS="$root" cargo deny --offline --locked check "$@"
