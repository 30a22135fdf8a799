#!/usr/bin/env bash
# Installs Debian's xmlsec1 when the machine lacks it: pysaml2 signs and checks SAML with it.
set -euo pipefail
command -v xmlsec1 >/dev/null && exit 0
echo "installing xmlsec1 from Debian's packages ..."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends xmlsec1 >/dev/null
command -v xmlsec1 >/dev/null
