#!/usr/bin/env bash
# Builds FerretDB v1.24.2 (SQLite handler) into .tools/bin once.
#
# Why not a bare `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`:
# - the module zip served by the Go module proxy lacks build/version/version.txt (FerretDB
#   generates it from git), so the installed binary panics at start-up with "Invalid
#   build/version/version.txt file content". We fetch the very same module through the proxy and
#   add that one file;
# - its SQLite backend never uses its own `_id` index (every lookup and write-back by `_id` scans
#   the table), which turns bulk writes into one scan per document. scripts/ferretdb-patches/
#   holds the one-line fix, explained in the patch itself.
# The binary is rebuilt when the patches change (their checksum is kept beside it).
set -euo pipefail
version=v1.24.2
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin/ferretdb"
patches=("$root"/scripts/ferretdb-patches/*.patch)
stamp="$version $(cat "${patches[@]}" | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to build FerretDB (install golang)" >&2; exit 1; }
echo "building FerretDB $version (once; cached in .tools/) ..."
src=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
work="$root/.tools/src/ferretdb-$version"
rm -rf "$work"; mkdir -p "$work" "$root/.tools/bin"
cp -R "$src/." "$work/"; chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
# Its own throwaway repository, so `git apply` patches paths relative to the module, not to ours.
(cd "$work" && git init -q . && for patch in "${patches[@]}"; do git apply -p1 "$patch"; done)
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/ferretdb)
echo "$stamp" > "$bin.stamp"
# Print the first line only; `head` would close the pipe early and pipefail would turn that into exit 141.
"$bin" --version | sed -n 1p
