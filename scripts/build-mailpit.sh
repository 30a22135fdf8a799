#!/usr/bin/env bash
# Builds Mailpit (the local mail catcher with a web UI that `make run` starts) into .tools/bin
# once, from its Go module through the module proxy, like FerretDB. Its web UI is embedded in
# the module, so a plain build serves it.
set -euo pipefail
version=v1.33.1
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin/mailpit"
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is required to build Mailpit (install golang)" >&2; exit 1; }
echo "building Mailpit $version (once; cached in .tools/) ..."
mkdir -p "$root/.tools/bin"
GOBIN="$root/.tools/bin" CGO_ENABLED=0 go install -trimpath "github.com/axllent/mailpit@$version"
echo "$version" > "$bin.stamp"
