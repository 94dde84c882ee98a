#!/usr/bin/env bash
# The foundation, as a person on a fresh machine meets it: `npm start` on
# embedded defaults bootstraps a CA chain that openssl verifies, serves
# health and metrics, stops cleanly on SIGTERM/SIGINT without leaving
# Postgres behind, keeps its CA across restarts, and refuses bad config
# with a message naming the key.
source "$(dirname "$0")/../lib.sh"
cd "$root_dir"

work=$(mktemp -d /tmp/chancery-conf-XXXXXX)
chmod 711 "$work"
data="$work/data"
port=$(free_port)
listen_on_loopback metrics="$port"
log="$work/gateway.log"
pid=""

launch_gateway() {
  CHANCERY_DATA_DIR="$data" CHANCERY_LOG_PRETTY=false "$node" src/main.ts > "$log" 2>&1 &
  pid=$!
}
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  pkill -9 -f -- "-D $data/[p]ostgres" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The [p] keeps pgrep from matching the shell that runs it.
postgres_gone() { ! pgrep -f -- "-D $data/[p]ostgres" >/dev/null; }
ready() { curl -fsS "http://127.0.0.1:$port/readyz" | contains '"ready"'; }

launch_gateway
check "npm start on embedded defaults becomes ready within 120 s" wait_for 120 ready
check "the CA chain and root PEM are written to the data directory" test -s "$data/ca-chain.pem" -a -s "$data/root-ca.pem"
check "the printed location names the chain file" grep -q "CA chain written to $data/ca-chain.pem" "$log"
fingerprint=$(openssl x509 -in "$data/root-ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
check "the printed root fingerprint is the one openssl computes" grep -q "SHA-256 fingerprint $fingerprint" "$log"
check "the root is ECDSA P-256, self-signed, CA:TRUE" bash -c \
  "openssl x509 -in '$data/root-ca.pem' -noout -text | contains 'prime256v1' &&
   openssl x509 -in '$data/root-ca.pem' -noout -text | contains 'CA:TRUE' &&
   openssl verify -CAfile '$data/root-ca.pem' '$data/root-ca.pem'"
check "openssl verifies the issuing CA against the root" bash -c \
  "openssl verify -CAfile '$data/root-ca.pem' '$data/ca-chain.pem' | contains OK"
check "openssl verifies the self-issued listener certificate for localhost and 127.0.0.1" bash -c \
  "openssl verify -CAfile '$data/root-ca.pem' -untrusted '$data/ca-chain.pem' -verify_hostname localhost '$data/tls/listener.crt' &&
   openssl verify -CAfile '$data/root-ca.pem' -untrusted '$data/ca-chain.pem' -verify_ip 127.0.0.1 '$data/tls/listener.crt'"
check "/healthz answers 200" curl -fsS "http://127.0.0.1:$port/healthz"
check "/readyz says the database is reachable" bash -c "curl -fsS http://127.0.0.1:$port/readyz | contains '\"database\":\"ok\"'"
check "/metrics is Prometheus text with the issuance counters" bash -c \
  "curl -fsS http://127.0.0.1:$port/metrics | contains '^chancery_certificates_issued_total'"
check "the key-encryption key file is private (0600)" bash -c "[ \$(stat -c %a '$data/kek') = 600 ]"
check "no TCP port is opened for the embedded Postgres" bash -c "ss -ltnp >/dev/null && ! ss -ltnp | contains postgres"

kill -TERM "$pid"
check "SIGTERM stops the gateway with exit code 0 within 30 s" bash -c "
  for i in \$(seq 60); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  ! kill -0 $pid 2>/dev/null"
wait "$pid"
code=$?
check "the exit code after SIGTERM is 0" test "$code" -eq 0
check "no Postgres process is left behind" wait_for 10 postgres_gone
check "shutdown was orderly (stopped cleanly logged)" grep -q "stopped cleanly" "$log"

launch_gateway
check "a restart on the same data directory becomes ready" wait_for 60 ready
check "the restart keeps the same root CA (no second bootstrap)" bash -c "
  [ \"\$(openssl x509 -in '$data/root-ca.pem' -noout -fingerprint -sha256 | cut -d= -f2)\" = '$fingerprint' ] &&
  ! grep -q 'bootstrapped a new root' <(grep -v '^$' '$log')"
kill -INT "$pid"
wait "$pid"
code=$?
check "Ctrl-C (SIGINT) stops it cleanly too" test "$code" -eq 0
check "no Postgres process is left after SIGINT" wait_for 10 postgres_gone
pid=""

CHANCERY_DATA_DIR="$data" CHANCERY_LISTEN_EST=8444 "$node" src/main.ts > "$work/bad1.txt" 2>&1
code=$?
check "a bad listen address exits 2 naming the key and the variable" bash -c \
  "[ $code -eq 2 ] && grep -q 'listen.est (from CHANCERY_LISTEN_EST)' '$work/bad1.txt'"
printf 'listen:\n  acmee: 0.0.0.0:1\n' > "$work/bad.yaml"
"$node" src/main.ts --config "$work/bad.yaml" > "$work/bad2.txt" 2>&1
code=$?
check "an unknown key in the config file is named with the file" bash -c \
  "[ $code -eq 2 ] && grep -q 'unknown key \"acmee\"' '$work/bad2.txt' && grep -q '$work/bad.yaml' '$work/bad2.txt'"

finish
