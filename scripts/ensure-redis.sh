#!/usr/bin/env bash
# Installs Debian's redis-server when the machine lacks it.
set -euo pipefail
command -v redis-server >/dev/null && exit 0
echo "installing redis-server from Debian's packages ..."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server >/dev/null
command -v redis-server >/dev/null
