#!/usr/bin/env bash
# Installs what the SCEP conformance run and benchmark need, from Debian (bookworm):
#   scep                  micromdm's scepclient and scepserver 2.1 (/usr/bin/scepclient, /usr/bin/scepserver)
#   curl, openssl         GetCACaps/GetCACert and certificate checks
# Idempotent: apt-get runs only when a binary is missing.
set -euo pipefail
bash "$(dirname "$0")/../install-packages.sh" scep=scepclient curl=curl openssl=openssl
echo "scep conformance tools: scep $(dpkg-query -W -f='${Version}' scep 2>/dev/null || echo '?')"
