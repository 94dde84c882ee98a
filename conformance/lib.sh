# Shared helpers for conformance scripts: source it, call `check NAME CMD...`,
# and `finish` at the end. Counts go to $CONFORMANCE_COUNTS ("passed failed").
set -uo pipefail
passed=0
failed=0
root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node="$root_dir/node_modules/.bin/node"

check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    printf 'PASS %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n%s\n' "$name" "$(printf '%s' "$out" | tail -20 | sed 's/^/     /')"
  fi
}

# wait_for TIMEOUT_SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# A free TCP port on 127.0.0.1.
free_port() {
  "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

finish() {
  printf '%s: %d passed, %d failed\n' "$(basename "$(dirname "$0")")" "$passed" "$failed"
  if [ -n "${CONFORMANCE_COUNTS:-}" ]; then
    read -r p f < "$CONFORMANCE_COUNTS" 2>/dev/null || { p=0; f=0; }
    echo "$((p + passed)) $((f + failed))" > "$CONFORMANCE_COUNTS"
  fi
  [ "$failed" -eq 0 ]
}
