#!/usr/bin/env bash
# Installs what the ACME conformance run needs, from Debian (bookworm):
#   certbot               certbot 2.1 (/usr/bin/certbot)
#   lego                  lego 4.9 (/usr/bin/lego)
#   pebble                /usr/bin/pebble (a test ACME server, used to prove the
#                         client command lines) and /usr/bin/pebble-challtestsrv
#                         (mock DNS: A/AAAA/CAA/CNAME/TXT set over an HTTP
#                         management API; the resolver for dns-01 and for every
#                         name the gateway validates)
#   curl, openssl         the dns-01 hooks and chain checks
# Idempotent: packages whose binary is already there are left alone, and
# apt-get runs only when something is missing. Needs root (or sudo) then.
set -euo pipefail

declare -A binary_of=(
  [certbot]=certbot
  [lego]=lego
  [pebble]=pebble-challtestsrv
  [curl]=curl
  [openssl]=openssl
)

missing=()
for package in "${!binary_of[@]}"; do
  command -v "${binary_of[$package]}" > /dev/null 2>&1 || missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "acme conformance tools present: $(certbot --version 2>&1), lego $(dpkg-query -W -f='${Version}' lego 2>/dev/null || echo '?'), pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null || echo '?')"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null 2>&1 || { echo "setup.sh: installing ${missing[*]} needs root" >&2; exit 1; }
  sudo=sudo
fi
echo "installing: ${missing[*]}"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
for package in "${missing[@]}"; do
  command -v "${binary_of[$package]}" > /dev/null 2>&1 || { echo "setup.sh: $package did not install ${binary_of[$package]}" >&2; exit 1; }
done
