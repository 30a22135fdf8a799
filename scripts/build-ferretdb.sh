#!/usr/bin/env bash
# Builds FerretDB v1.24.2 (SQLite handler) into .tools/bin once.
#
# Why not a bare `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: the module zip
# served by the Go module proxy lacks build/version/version.txt (FerretDB generates it from git),
# so the installed binary panics at start-up with "Invalid build/version/version.txt file
# content". We fetch the very same module through the proxy, add that one file, and build it.
set -euo pipefail
version=v1.24.2
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin/ferretdb"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to build FerretDB (install golang)" >&2; exit 1; }
echo "building FerretDB $version (once; cached in .tools/) ..."
src=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
work="$root/.tools/src/ferretdb-$version"
rm -rf "$work"; mkdir -p "$work" "$root/.tools/bin"
cp -R "$src/." "$work/"; chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/ferretdb)
"$bin" --version | head -1
