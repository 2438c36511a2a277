#!/usr/bin/env bash
# Replaces third_party/advisory-db with the `crates/` advisories (and licenses) of the
# RustSec advisory-db at the given git directory (a clone or a bare mirror), and records its
# commit and date in third_party/advisory-db/SNAPSHOT, which scripts/cargo-deny.sh reads.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: scripts/refresh-advisory-db.sh PATH-TO-ADVISORY-DB-GIT}
rev=${2:-main}
commit=$(git -C "$src" rev-parse "$rev^{commit}")
date=$(git -C "$src" show -s --format=%cI "$commit")
dest=third_party/advisory-db
rm -rf "$dest/crates" "$dest/LICENSES" "$dest/LICENSE.txt"
git -C "$src" archive "$commit" crates LICENSE.txt LICENSES | tar -x -C "$dest"
printf 'commit=%s\ndate=%s\n' "$commit" "$date" >"$dest/SNAPSHOT"
echo "advisory-db snapshot: $commit ($date), $(find "$dest/crates" -name '*.md' | wc -l) advisories"
