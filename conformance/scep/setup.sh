#!/usr/bin/env bash
# Installs what the SCEP conformance runs and benchmark need, from Debian (bookworm):
#   scep                  micromdm's scepclient and scepserver 2.1 (/usr/bin/scepclient, /usr/bin/scepserver)
#   certmonger            certmonger 0.79 and its getcert (conformance/scep-certmonger)
#   dbus-daemon           the private D-Bus that getcert and certmonger talk over there
#   curl, openssl         GetCACaps/GetCACert and certificate checks
# Idempotent: apt-get runs only when a binary is missing.
set -euo pipefail
bash "$(dirname "$0")/../install-packages.sh" scep=scepclient certmonger=getcert dbus-daemon=dbus-daemon \
  curl=curl openssl=openssl
echo "scep conformance tools: scep $(dpkg-query -W -f='${Version}' scep 2>/dev/null || echo '?')," \
  "certmonger $(dpkg-query -W -f='${Version}' certmonger 2>/dev/null || echo '?')"
