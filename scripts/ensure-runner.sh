#!/usr/bin/env bash
# Installs what the code runner needs from Debian's packages when the machine lacks it:
# bubblewrap (the sandbox) and the language runtimes of the default set. Each is checked by the
# binary the runner uses, so a machine that already has it installs nothing.
set -euo pipefail
declare -A wanted=(
  [/usr/bin/bwrap]=bubblewrap
  [/usr/bin/python3]=python3
  [/usr/bin/node]=nodejs
  [/usr/bin/gcc]=gcc
  [/usr/bin/g++]=g++
  [/usr/bin/javac]=default-jdk-headless
  [/usr/bin/go]=golang-go
  [/usr/bin/ruby]=ruby
  [/usr/bin/php]=php-cli
  [/usr/bin/rustc]=rustc
  [/usr/bin/sqlite3]=sqlite3
  [/usr/bin/ps]=procps
)
missing=()
for binary in "${!wanted[@]}"; do
  [ -x "$binary" ] || missing+=("${wanted[$binary]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing the code runner's packages from Debian: ${missing[*]} ..."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
