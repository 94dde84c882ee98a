#!/usr/bin/env bash
# The ACME server as real clients meet it: Debian's certbot and lego,
# unmodified, against a running gateway. Names resolve through
# pebble-challtestsrv (a local DNS server answering 127.0.0.1 for every
# name, and holding dns-01 TXT records), which the gateway uses as its
# resolver. certbot: register, certonly --standalone (http-01), renew,
# revoke. lego: run with http-01, tls-alpn-01 and dns-01 (exec provider),
# renew, revoke, and an order on a profile that requires approval, which
# completes after an approval through the admin API. Every chain is
# verified with openssl.
source "$(dirname "$0")/../lib.sh"
begin_run acme

metrics=$(free_port)
admin=$(free_port)
acme=$(free_port)
http01=$(free_port)
tlsalpn=$(free_port)
dns=$(free_port)
management=$(free_port)
challtest=""
extra_cleanup() {
  [ -n "$challtest" ] && kill "$challtest" 2>/dev/null
}

# DNS for every name → 127.0.0.1, TXT records set by lego's exec hook; its own challenge servers are off.
pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$management" -http01 "" -https01 "" \
  -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" > "$work/challtestsrv.log" 2>&1 &
challtest=$!

export CHANCERY_DATA_DIR="$data"
listen_on_loopback metrics="$metrics" admin="$admin" acme="$acme"
export CHANCERY_ACME_BASE_URL="https://localhost:$acme" CHANCERY_ACME_DNS_RESOLVERS="127.0.0.1:$dns"
export CHANCERY_ACME_HTTP_PORT="$http01" CHANCERY_ACME_TLS_ALPN_PORT="$tlsalpn"
export CHANCERY_LOG_PRETTY=false
node src/main.ts > "$work/gateway.log" 2>&1 &
pid=$!
check "the gateway starts with the ACME listener" wait_for 120 bash -c "curl -fsS http://127.0.0.1:$metrics/readyz"
check "pebble-challtestsrv answers DNS" wait_for 20 bash -c "curl -fsS -X POST http://127.0.0.1:$management/set-default-ipv4 -d '{\"ip\":\"127.0.0.1\"}'"
ca="$data/root-ca.pem"
directory="https://localhost:$acme/acme/default/directory"
check "the directory is served over HTTPS with absolute URLs" bash -c \
  "curl -fsS --cacert '$ca' '$directory' | contains '\"newNonce\":\"https://localhost:$acme/acme/default/new-nonce\"'"

# Every chain a client saved verifies against the root, for the expected name.
verify_chain() { # FILE NAME
  local leaf="$work/leaf.pem" rest="$work/rest.pem"
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n==1' "$1" > "$leaf"
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>1' "$1" > "$rest"
  openssl verify -CAfile "$ca" -untrusted "$rest" -purpose sslserver "$leaf" &&
    openssl x509 -in "$leaf" -noout -ext subjectAltName | contains "$2"
}

# --- certbot ---------------------------------------------------------------
cb=(certbot --non-interactive --server "$directory" --config-dir "$work/certbot/config"
  --work-dir "$work/certbot/work" --logs-dir "$work/certbot/logs")
export REQUESTS_CA_BUNDLE="$ca"
check "certbot registers an account" "${cb[@]}" register --agree-tos -m ops@example.test
check "certbot certonly --standalone (http-01)" "${cb[@]}" certonly --standalone \
  --http-01-address 127.0.0.1 --http-01-port "$http01" -d certbot.example.test
live="$work/certbot/config/live/certbot.example.test"
check "certbot's fullchain verifies with openssl" verify_chain "$live/fullchain.pem" "DNS:certbot.example.test"
serial1=$(openssl x509 -in "$live/cert.pem" -noout -serial 2>/dev/null)
check "certbot renew --force-renewal gets a new certificate" "${cb[@]}" renew --force-renewal --no-random-sleep-on-renew \
  --http-01-address 127.0.0.1 --http-01-port "$http01"
check "the renewed certificate is a different one" bash -c \
  "[ \"\$(openssl x509 -in '$live/cert.pem' -noout -serial)\" != '$serial1' ]"
check "certbot revoke --reason keycompromise" "${cb[@]}" revoke --cert-path "$live/cert.pem" \
  --reason keycompromise --no-delete-after-revoke
unset REQUESTS_CA_BUNDLE

# --- lego ------------------------------------------------------------------
export LEGO_CA_CERTIFICATES="$ca"
lg=(lego --server "$directory" --accept-tos --email ops@example.test --path "$work/lego")
check "lego run with http-01" "${lg[@]}" --domains lego-http.example.test --http --http.port "127.0.0.1:$http01" run
check "lego's http-01 chain verifies" verify_chain "$work/lego/certificates/lego-http.example.test.crt" \
  "DNS:lego-http.example.test"
check "lego run with tls-alpn-01" "${lg[@]}" --domains lego-tls.example.test --tls --tls.port "127.0.0.1:$tlsalpn" run
check "lego's tls-alpn-01 chain verifies" verify_chain "$work/lego/certificates/lego-tls.example.test.crt" \
  "DNS:lego-tls.example.test"
# One second between lego's DNS record calls (its default waits far longer per record).
export EXEC_PATH="$root_dir/conformance/acme/lego-dns-exec.sh" EXEC_SEQUENCE_INTERVAL=1 CHALLTESTSRV_MANAGEMENT="$management"
check "lego run with dns-01 for a wildcard (exec provider, local DNS)" "${lg[@]}" --domains '*.lego-dns.example.test' \
  --dns exec --dns.resolvers "127.0.0.1:$dns" --dns.disable-cp run
check "lego's dns-01 wildcard chain verifies" verify_chain "$work/lego/certificates/_.lego-dns.example.test.crt" \
  'DNS:\*.lego-dns.example.test'
check "lego renew" "${lg[@]}" --domains lego-http.example.test --http --http.port "127.0.0.1:$http01" renew --days 9999 --no-random-sleep
check "lego's renewed chain verifies" verify_chain "$work/lego/certificates/lego-http.example.test.crt" \
  "DNS:lego-http.example.test"
check "lego revoke" "${lg[@]}" --domains lego-tls.example.test revoke

# --- approval: an order that waits in the admin queue ------------------------
npm run --silent bootstrap-admin -- --username admin > "$work/bootstrap.out" 2> "$work/bootstrap.err"
token=$(tail -n 1 "$work/bootstrap.out")
base="https://localhost:$admin"
check "a profile that requires approval is created" create_approval_profile tls-server tls-server-approved
issuing=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' | json_field '.certificateAuthorities.find(c=>c.displayName==="issuing").name')
check "an ACME directory 'approval' is created on it" admin_call AcmeService/CreateAcmeDirectory \
  "{\"acmeDirectory\":{\"displayName\":\"approval\",\"certificateAuthority\":\"$issuing\",\"allowedProfiles\":[\"profiles/tls-server-approved\"],\"defaultProfile\":\"profiles/tls-server-approved\",\"authorizationMode\":\"AUTHORIZATION_MODE_CHALLENGE\",\"challengeTypes\":[\"CHALLENGE_TYPE_HTTP_01\"]}}"
approval_dir="https://localhost:$acme/acme/approval/directory"
lego --server "$approval_dir" --accept-tos --email ops@example.test --path "$work/lego-approval" \
  --domains approved.example.test --http --http.port "127.0.0.1:$http01" --cert.timeout 120 run \
  > "$work/lego-approval.log" 2>&1 &
lego_pid=$!
pending_request() {
  admin_call RequestService/ListRequests '{"state":"STATE_PENDING"}' |
    json_field '.requests?.find(r=>r.protocolRequester?.startsWith("acme-account:"))?.name ?? ""'
}
check "the finalized order waits in the approval queue" wait_for 60 bash -c \
  "$(declare -f admin_call json_field pending_request); ca='$ca' token='$token' base='$base' node='$node'; pending_request | contains requests/"
request=$(pending_request)
check "an admin approves it through the admin API" admin_call RequestService/ApproveRequest "{\"name\":\"$request\"}"
wait "$lego_pid"
lego_status=$?
check "lego, still polling, downloads the approved certificate" bash -c "[ $lego_status -eq 0 ] || { tail -20 '$work/lego-approval.log'; exit 1; }"
check "the approved chain verifies" verify_chain "$work/lego-approval/certificates/approved.example.test.crt" \
  "DNS:approved.example.test"

check "the gateway logged no internal error" bash -c "! grep -q '\"level\":50' '$work/gateway.log'"
[ "$failed" -gt 0 ] && tail -30 "$work/gateway.log"
finish
