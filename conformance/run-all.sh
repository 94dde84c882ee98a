#!/usr/bin/env bash
# Runs every conformance/<suite>/run.sh against real running gateways and
# real third-party clients, and leaves "passed failed" in .tmp/conformance-counts.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
export CONFORMANCE_COUNTS="$PWD/.tmp/conformance-counts"
echo "0 0" > "$CONFORMANCE_COUNTS"
status=0
for suite in conformance/*/run.sh; do
  case "$suite" in conformance/bench/*) continue ;; esac
  echo "--- $suite"
  bash "$suite" || status=1
done
read -r p f < "$CONFORMANCE_COUNTS"
echo "conformance: $p passed, $f failed"
exit "$status"
