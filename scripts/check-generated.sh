#!/usr/bin/env bash
# Fails when src/gen is not exactly what `buf generate` makes from proto/
# (DESIGN rule 3: generated code is committed and never edited by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
buf generate --output "$tmp"
if ! diff -r "$tmp/src/gen" src/gen; then
  echo "src/gen is out of date: run \`npm run generate\` and commit the result" >&2
  exit 1
fi
echo "src/gen matches proto/"
