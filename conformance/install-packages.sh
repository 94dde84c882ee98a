#!/usr/bin/env bash
# install-packages.sh PACKAGE=BINARY...: installs the Debian packages whose
# binary is not on PATH yet, in one apt-get run (none when all are present).
# Needs root (or sudo) when something is missing. Used by each suite's setup.sh.
set -euo pipefail

missing=()
for pair in "$@"; do
  command -v "${pair#*=}" > /dev/null 2>&1 || missing+=("${pair%%=*}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null 2>&1 || { echo "install-packages.sh: installing ${missing[*]} needs root" >&2; exit 1; }
  sudo=sudo
fi
echo "installing: ${missing[*]}"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
for pair in "$@"; do
  command -v "${pair#*=}" > /dev/null 2>&1 || { echo "install-packages.sh: ${pair%%=*} did not install ${pair#*=}" >&2; exit 1; }
done
