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
# Idempotent: apt-get runs only when a binary is missing.
set -euo pipefail
bash "$(dirname "$0")/../install-packages.sh" certbot=certbot lego=lego pebble=pebble-challtestsrv curl=curl openssl=openssl
echo "acme conformance tools: $(certbot --version 2>&1), lego $(dpkg-query -W -f='${Version}' lego 2>/dev/null || echo '?'), pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null || echo '?')"
