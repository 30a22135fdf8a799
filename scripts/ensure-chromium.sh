#!/usr/bin/env bash
# Installs Debian's chromium (headless) when the machine lacks it: the tests that must see a
# page as a browser does (the interview record) drive it over the DevTools protocol.
set -euo pipefail
command -v chromium >/dev/null && exit 0
echo "installing chromium from Debian's packages ..."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
