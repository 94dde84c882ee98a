#!/usr/bin/env bash
# The revocation listener as relying parties meet it: curl downloads the
# CRL and the CA certificate from the URLs certificates carry, openssl
# verifies the CRL's signature, a revocation through `buf curl` reaches a
# new CRL within seconds, and `openssl verify -crl_check` (also following
# the certificate's CDP itself with -crl_download) rejects the revoked
# certificate and accepts another.
source "$(dirname "$0")/../lib.sh"
begin_run crl

metrics=$(free_port)
admin=$(free_port)
ocsp=$(free_port)

# publicBaseUrl points at this run's listener, so the CDP in issued certificates is fetchable.
export CHANCERY_DATA_DIR="$data" CHANCERY_PUBLIC_BASE_URL="http://127.0.0.1:$ocsp"
listen_on_loopback metrics="$metrics" admin="$admin" ocsp="$ocsp"
export CHANCERY_LOG_PRETTY=false
start_gateway revocation
check "the revocation listener's address is logged" grep -q "revocation listener ready" "$work/gateway.log"
public="http://127.0.0.1:$ocsp"

admin_login
id=${issuing#certificateAuthorities/}
check "the issuing CA's id is known" test -n "$id"

# The CRL's number as openssl prints it, in decimal.
crl_number() { printf '%d' "0x$(openssl crl -inform DER -in "$1" -noout -crlnumber | sed 's/.*=\(0x\)\{0,1\}//')"; }

check "curl downloads the CRL as DER (application/pkix-crl)" bash -c \
  "[ \"\$(curl -fsS -o '$work/first.crl' -w '%{content_type}' '$public/crl/$id.crl')\" = application/pkix-crl ]"
check "openssl verifies the CRL's signature with the CA chain" bash -c \
  "openssl crl -inform DER -in '$work/first.crl' -CAfile '$chain' -verify -noout 2>&1 | contains 'verify OK'"
check "the CRL comes with ETag, Last-Modified, Expires and Cache-Control max-age" bash -c \
  "curl -fsS -D '$work/headers' -o /dev/null '$public/crl/$id.crl' &&
   grep -qi '^etag: \"[0-9a-f]\{64\}\"' '$work/headers' && grep -qi '^last-modified: ' '$work/headers' &&
   grep -qi '^expires: ' '$work/headers' &&
   grep -qi '^cache-control: public, no-transform, must-revalidate, max-age=[0-9]' '$work/headers'"
etag=$(grep -i '^etag:' "$work/headers" | cut -d' ' -f2 | tr -d '\r')
check "If-None-Match with the ETag answers 304" bash -c \
  "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: $etag' '$public/crl/$id.crl') = 304 ]"
check "the .pem form is the same CRL in PEM" bash -c \
  "curl -fsS '$public/crl/$id.pem' | openssl crl -outform DER -out '$work/from-pem.crl' && cmp '$work/first.crl' '$work/from-pem.crl'"
check "the caIssuers URL serves the issuing CA certificate as DER" bash -c \
  "curl -fsS -o '$work/ca.cer' '$public/ca/$id.cer' &&
   [ \"\$(openssl x509 -inform DER -in '$work/ca.cer' -noout -fingerprint -sha256)\" = \
     \"\$(openssl x509 -in '$chain' -noout -fingerprint -sha256)\" ]"
check "an unknown CA is 404, a POST is 405" bash -c \
  "[ \$(curl -s -o /dev/null -w '%{http_code}' '$public/crl/00000000-0000-4000-8000-000000000000.crl') = 404 ] &&
   [ \$(curl -s -o /dev/null -w '%{http_code}' -X POST '$public/crl/$id.crl') = 405 ]"

# Two certificates from `openssl req` CSRs; one is revoked.
for leaf in revoked kept; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$leaf.key" \
    -subj "/CN=$leaf.crl.example.com" -out "$work/$leaf.csr" 2> /dev/null
  "$node" -e 'const [parent, csr, cn] = process.argv.slice(1);
    console.log(JSON.stringify({ parent, profile: "profiles/tls-server", csrPem: require("fs").readFileSync(csr, "utf8"),
      subjectAltNames: [{ type: "TYPE_DNS", value: cn }] }))' "$issuing" "$work/$leaf.csr" "$leaf.crl.example.com" \
    > "$work/$leaf-issue.json"
  admin_call CertificateService/IssueCertificate @"$work/$leaf-issue.json" > "$work/$leaf-issued.json"
  json_field .certificatePem < "$work/$leaf-issued.json" > "$work/$leaf.pem" 2> /dev/null
done
check "the issued certificates carry the listener's CRL URL as their CDP" bash -c \
  "openssl x509 -in '$work/revoked.pem' -noout -ext crlDistributionPoints | contains -F '$public/crl/$id.crl'"
before=$(crl_number "$work/first.crl")
echo "{\"name\": \"$(json_field .name < "$work/revoked-issued.json")\", \"reason\": \"REVOCATION_REASON_KEY_COMPROMISE\"}" \
  > "$work/revoke.json"
check "buf curl revokes one certificate" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/revoke.json' \
     '$base/chancery.admin.v1.CertificateService/RevokeCertificate' | contains REVOCATION_REASON_KEY_COMPROMISE"
newer_crl() {
  curl -fsS -o "$work/new.crl" "$public/crl/$id.crl" && [ "$(crl_number "$work/new.crl")" -gt "$before" ]
}
check "a new CRL (higher cRLNumber) is published within 15 s" wait_for 15 newer_crl
openssl crl -inform DER -in "$work/new.crl" -out "$work/new.crl.pem" 2> /dev/null
check "the new CRL verifies and lists the revoked serial with keyCompromise" bash -c \
  "openssl crl -in '$work/new.crl.pem' -CAfile '$chain' -verify -noout 2>&1 | contains 'verify OK' &&
   serial=\$(openssl x509 -in '$work/revoked.pem' -noout -serial | cut -d= -f2) &&
   openssl crl -in '$work/new.crl.pem' -noout -text | grep -A6 \"Serial Number: \$serial\" | contains 'Key Compromise'"
check "openssl verify -crl_check rejects the revoked certificate" bash -c \
  "! openssl verify -crl_check -CAfile '$chain' -CRLfile '$work/new.crl.pem' '$work/revoked.pem' > '$work/v1' 2>&1 &&
   grep -q 'certificate revoked' '$work/v1'"
check "openssl verify -crl_check accepts the other certificate" \
  openssl verify -crl_check -CAfile "$chain" -CRLfile "$work/new.crl.pem" "$work/kept.pem"
check "openssl -crl_download follows the CDP itself and rejects the revoked certificate" bash -c \
  "! openssl verify -crl_check -crl_download -CAfile '$chain' '$work/revoked.pem' > '$work/v2' 2>&1 &&
   grep -q 'certificate revoked' '$work/v2' &&
   openssl verify -crl_check -crl_download -CAfile '$chain' '$work/kept.pem'"

check "RegenerateCrl over buf curl returns the next cRLNumber" bash -c \
  "admin_number() { buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{\"name\": \"$issuing\"}' \
     '$base/chancery.admin.v1.CertificateAuthorityService/RegenerateCrl' | grep -o '\"crlNumber\": \"[0-9]*\"' | grep -o '[0-9]*'; }
   a=\$(admin_number) && b=\$(admin_number) && [ \$((a + 1)) -eq \"\$b\" ]"

finish
