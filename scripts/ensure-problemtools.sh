#!/usr/bin/env bash
# problemtools (Kattis's package verifier) in its own virtualenv, and Debian's pypy3, which it
# runs Python programs with. Only `make verify-packages` needs them.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v pypy3 >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends pypy3 >/dev/null
fi
if [ ! -x .tools/problemtools/bin/verifyproblem ]; then
  python3 -m venv .tools/problemtools
  .tools/problemtools/bin/pip install -q 'problemtools==1.20260907'
fi
