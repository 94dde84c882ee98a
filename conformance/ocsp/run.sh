#!/usr/bin/env bash
# The OCSP responder as relying parties meet it: `openssl ocsp` over POST
# (its -url) and the GET form (request from -reqout, fetched by curl), with
# and without a nonce, every response verified against the CA chain; a
# certificate reads good, is revoked through the admin API (`buf curl`),
# then reads revoked with the right reason on this gateway and on a second
# gateway process sharing the first one's database (LISTEN/NOTIFY) within
# the documented delay (seconds; 60 s at worst if a notification is lost).
source "$(dirname "$0")/../lib.sh"
begin_run ocsp

data2="$work/data2"
metrics=$(free_port)
admin=$(free_port)
ocsp=$(free_port)
metrics2=$(free_port)
admin2=$(free_port)
ocsp2=$(free_port)
pid2=""
extra_cleanup() {
  [ -n "$pid2" ] && kill -TERM "$pid2" 2>/dev/null && wait "$pid2" 2>/dev/null
}

export CHANCERY_LOG_PRETTY=false
# Each gateway in a subshell of its own: the two differ in their listeners. exec: $! is the gateway.
(
  listen_on_loopback metrics="$metrics" admin="$admin" ocsp="$ocsp"
  CHANCERY_DATA_DIR="$data" CHANCERY_PUBLIC_BASE_URL="http://127.0.0.1:$ocsp" exec node src/main.ts
) > "$work/gateway.log" 2>&1 &
pid=$!
check "the gateway starts with the OCSP responder" wait_for 120 bash -c "curl -fsS http://127.0.0.1:$metrics/readyz"
check "the revocation listener announces /ocsp" grep -q "revocation listener ready (/ocsp" "$work/gateway.log"
base="https://localhost:$admin"
public="http://127.0.0.1:$ocsp"
public2="http://127.0.0.1:$ocsp2"
ca="$data/root-ca.pem"
chain="$data/ca-chain.pem"
# The issuing CA is the first certificate of the chain file.
openssl x509 -in "$chain" -out "$work/issuer.pem"

CHANCERY_DATA_DIR="$data" npm run --silent bootstrap-admin -- --username admin > "$work/bootstrap.out" 2> "$work/bootstrap.err"
token=$(tail -n 1 "$work/bootstrap.out")
issuing=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' \
  | json_field '.certificateAuthorities.find((c)=>c.displayName==="issuing").name')
check "the issuing CA is known" test -n "$issuing"

# A second gateway process: its own data directory and ports, the first one's
# database (the embedded server's socket) and key-encryption key.
db_url=$("$node" -e 'import("./src/store/embedded-postgres.ts").then(async (m) => {
  const uri = await m.runningEmbeddedPostgresUri(process.argv[1]); if (!uri) process.exit(1); process.stdout.write(uri) })' "$data")
check "the first gateway's embedded database is reachable" test -n "$db_url"
(
  listen_on_loopback metrics="$metrics2" admin="$admin2" ocsp="$ocsp2"
  CHANCERY_DATA_DIR="$data2" CHANCERY_DATABASE_URL="$db_url" CHANCERY_KEY_ENCRYPTION_KEY_FILE="$data/kek" \
    CHANCERY_PUBLIC_BASE_URL="http://127.0.0.1:$ocsp" exec node src/main.ts
) > "$work/gateway2.log" 2>&1 &
pid2=$!
check "a second gateway starts on the same database" wait_for 120 bash -c "curl -fsS http://127.0.0.1:$metrics2/readyz"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj "/CN=leaf.ocsp.example.com" -out "$work/leaf.csr" 2> /dev/null
"$node" -e 'const [parent, csr, cn] = process.argv.slice(1);
  console.log(JSON.stringify({ parent, profile: "profiles/tls-server", csrPem: require("fs").readFileSync(csr, "utf8"),
    subjectAltNames: [{ type: "TYPE_DNS", value: cn }] }))' "$issuing" "$work/leaf.csr" "leaf.ocsp.example.com" \
  > "$work/issue.json"
admin_call CertificateService/IssueCertificate @"$work/issue.json" > "$work/issued.json"
json_field .certificatePem < "$work/issued.json" > "$work/leaf.pem" 2> /dev/null
check "the certificate carries the OCSP URL in its AIA" bash -c \
  "openssl x509 -in '$work/leaf.pem' -noout -ext authorityInfoAccess | contains -F 'OCSP - URI:$public/ocsp'"

# ask URL NONCE-FLAG: openssl ocsp over POST, verifying against the chain.
ask() {
  openssl ocsp -issuer "$work/issuer.pem" -cert "$work/leaf.pem" -url "$1/ocsp" -CAfile "$chain" -resp_text "$2" 2>&1
}
# get_url BASE REQUEST-DER: the GET form, base64 URL-encoded as RFC 6960 Appendix A.1 asks.
get_url() { printf '%s/ocsp/%s' "$1" "$(base64 -w0 "$2" | "$node" -e 'process.stdin.on("data",(d)=>process.stdout.write(encodeURIComponent(String(d).trim())))')"; }
# check runs its commands in child shells: they need these too.
export -f ask get_url
export work chain node
check "POST with a nonce: good, verified, nonce echoed" bash -c \
  "out=\$(ask '$public' -nonce) && grep -q 'Response verify OK' <<< \"\$out\" &&
   grep -q 'leaf.pem: good' <<< \"\$out\" && grep -q 'OCSP Nonce:' <<< \"\$out\""
check "POST without a nonce: good, verified" bash -c \
  "out=\$(ask '$public' -no_nonce) && grep -q 'Response verify OK' <<< \"\$out\" && grep -q 'leaf.pem: good' <<< \"\$out\""
for n in nonce no_nonce; do
  openssl ocsp -issuer "$work/issuer.pem" -cert "$work/leaf.pem" -"$n" -reqout "$work/req-$n.der" 2> /dev/null
done
check "GET without a nonce: good, verified, with RFC 9919 cache headers" bash -c \
  "curl -fsS -D '$work/get.headers' -o '$work/get.der' \"\$(get_url '$public' '$work/req-no_nonce.der')\" &&
   grep -qi '^content-type: application/ocsp-response' '$work/get.headers' &&
   grep -qi '^cache-control: public, no-transform, must-revalidate, max-age=[0-9]' '$work/get.headers' &&
   grep -qi '^etag: \"[0-9a-f]\{64\}\"' '$work/get.headers' && grep -qi '^last-modified: ' '$work/get.headers' &&
   grep -qi '^expires: ' '$work/get.headers' &&
   openssl ocsp -respin '$work/get.der' -issuer '$work/issuer.pem' -cert '$work/leaf.pem' -CAfile '$chain' -no_nonce 2>&1 |
     grep -q 'leaf.pem: good'"
etag=$(grep -i '^etag:' "$work/get.headers" | cut -d' ' -f2 | tr -d '\r')
check "GET with If-None-Match answers 304" bash -c \
  "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: $etag' \"\$(get_url '$public' '$work/req-no_nonce.der')\") = 304 ]"
check "GET with a nonce: a fresh answer echoing it, not cacheable" bash -c \
  "curl -fsS -D '$work/getn.headers' -o '$work/getn.der' \"\$(get_url '$public' '$work/req-nonce.der')\" &&
   grep -qi '^cache-control: no-cache, no-store' '$work/getn.headers' &&
   openssl ocsp -respin '$work/getn.der' -reqin '$work/req-nonce.der' -CAfile '$chain' -resp_text 2>&1 |
     grep -q 'Response verify OK'"
check "the second gateway answers good too (before the revocation)" bash -c \
  "ask '$public2' -no_nonce | contains 'leaf.pem: good'"
check "garbage is answered malformedRequest" bash -c \
  "curl -fsS -X POST -H 'Content-Type: application/ocsp-request' --data-binary 'garbage' '$public/ocsp' | cmp - <(printf '\x30\x03\x0a\x01\x01')"

echo "{\"name\": \"$(json_field .name < "$work/issued.json")\", \"reason\": \"REVOCATION_REASON_KEY_COMPROMISE\"}" \
  > "$work/revoke.json"
check "buf curl revokes the certificate" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/revoke.json' \
     '$base/chancery.admin.v1.CertificateService/RevokeCertificate' | contains REVOCATION_REASON_KEY_COMPROMISE"
revoked_on() { ask "$1" "$2" | grep -A3 'leaf.pem: revoked' | contains 'Reason: keyCompromise'; }
check "this gateway reads revoked with keyCompromise at once (POST, no nonce)" revoked_on "$public" -no_nonce
check "this gateway reads revoked with keyCompromise at once (POST, nonce)" revoked_on "$public" -nonce
check "the second gateway reads revoked with keyCompromise within 5 s" wait_for 5 revoked_on "$public2" -no_nonce
check "GET on the second gateway reads revoked" bash -c \
  "curl -fsS -o '$work/get2.der' \"\$(get_url '$public2' '$work/req-no_nonce.der')\" &&
   openssl ocsp -respin '$work/get2.der' -issuer '$work/issuer.pem' -cert '$work/leaf.pem' -CAfile '$chain' -no_nonce 2>&1 |
     grep -q 'leaf.pem: revoked'"

finish
