#!/usr/bin/env bash
# The admin API as an operator meets it: npm run bootstrap-admin prints a
# token once; `buf curl` finds the services by gRPC reflection (no .proto
# files) and calls them over gRPC and Connect; curl speaks Connect JSON;
# gRPC health answers without a token; calls without one are refused.
source "$(dirname "$0")/../lib.sh"
begin_run admin

metrics=$(free_port)
admin=$(free_port)

export CHANCERY_DATA_DIR="$data"
listen_on_loopback metrics="$metrics" admin="$admin"
export CHANCERY_LOG_PRETTY=false
node src/main.ts > "$work/gateway.log" 2>&1 &
pid=$!
check "the gateway starts with the admin listener" wait_for 120 bash -c "curl -fsS http://127.0.0.1:$metrics/readyz"
base="https://localhost:$admin"
ca="$data/root-ca.pem"

npm run --silent bootstrap-admin -- --username admin > "$work/bootstrap.out" 2> "$work/bootstrap.err"
token=$(tail -n 1 "$work/bootstrap.out")
check "bootstrap-admin prints a personal access token once" bash -c "[[ '$token' == chancery_pat_* ]]"
npm run --silent bootstrap-admin -- --username second > /dev/null 2> "$work/bootstrap2.err"
code=$?
check "a second bootstrap-admin is refused (exit 1)" test "$code" -eq 1

check "buf curl lists the services by reflection" bash -c \
  "buf curl --cacert '$ca' --list-services '$base' | contains chancery.admin.v1.CertificateAuthorityService"
check "buf curl over gRPC lists the CAs with the admin token" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities' | contains '\"displayName\": \"issuing\"'"
check "buf curl over Connect verifies the audit chain" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.AuditService/VerifyAuditChain' | contains '\"intact\": true'"
check "buf curl over gRPC lists the profiles, tls-server among them" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{\"pageSize\": 10}' \
     '$base/chancery.admin.v1.ProfileService/ListProfiles' | contains '\"name\": \"profiles/tls-server\"'"
check "buf curl creates a profile over Connect, and gRPC GetProfile returns it with its defaults" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' \
     -d '{\"profileId\": \"conformance\", \"profile\": {\"validity\": {\"default\": \"86400s\", \"max\": \"604800s\"}}}' \
     '$base/chancery.admin.v1.ProfileService/CreateProfile' > /dev/null &&
   buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{\"name\": \"profiles/conformance\"}' \
     '$base/chancery.admin.v1.ProfileService/GetProfile' > '$work/profile.json' &&
   grep -q '\"max\": \"604800s\"' '$work/profile.json' && grep -q '\"backdate\": \"60s\"' '$work/profile.json'"
check "a call without a token is refused as unauthenticated" bash -c \
  "! buf curl --protocol grpc --cacert '$ca' -d '{}' '$base/chancery.admin.v1.AuditService/VerifyAuditChain' 2> '$work/anon.err'
   grep -qi unauthenticated '$work/anon.err'"
check "gRPC health answers SERVING without a token" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -d '{}' '$base/grpc.health.v1.Health/Check' | contains SERVING"
check "curl speaks Connect JSON to the admin API" bash -c \
  "curl -fsS --cacert '$ca' -H 'Content-Type: application/json' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.UserService/GetCurrentUser' | contains '\"username\":\"admin\"'"
check "curl gets HTTP 401 and a Connect error without a token" bash -c \
  "[ \$(curl -s -o '$work/err.json' -w '%{http_code}' --cacert '$ca' -H 'Content-Type: application/json' -d '{}' \
     '$base/chancery.admin.v1.UserService/GetCurrentUser') = 401 ] && grep -q unauthenticated '$work/err.json'"

# CertificateService: issue from a CSR made by `openssl req`, list it with a
# filter, revoke it twice (the second answer is the first revocation).
issuing=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' \
  | json_field '.certificateAuthorities.find((c)=>c.displayName==="issuing").name')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=conformance.example.com -out "$work/leaf.csr" 2> /dev/null
"$node" -e 'const [parent, csr] = process.argv.slice(1);
  console.log(JSON.stringify({ parent, profile: "profiles/tls-server", csrPem: require("fs").readFileSync(csr, "utf8"),
    subjectAltNames: [{ type: "TYPE_DNS", value: "conformance.example.com" }] }))' "$issuing" "$work/leaf.csr" \
  > "$work/issue.json"
check "buf curl issues a certificate from an openssl req CSR" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/issue.json' \
     '$base/chancery.admin.v1.CertificateService/IssueCertificate' > '$work/issued.json'"
json_field .certificatePem < "$work/issued.json" > "$work/leaf.pem" 2> /dev/null
json_field .issuerChainPem < "$work/issued.json" > "$work/chain.pem" 2> /dev/null
cert_name=$(json_field .name < "$work/issued.json" 2> /dev/null)
check "openssl verifies the issued certificate with the chain it came with" \
  openssl verify -CAfile "$ca" -untrusted "$work/chain.pem" "$work/leaf.pem"
echo '{"filter": "san : \"conformance.example.com\" AND state = \"VALID\""}' > "$work/list.json"
check "buf curl over Connect lists it with a filter" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/list.json' \
     '$base/chancery.admin.v1.CertificateService/ListCertificates' | contains '\"name\": \"$cert_name\"'"
for reason in KEY_COMPROMISE SUPERSEDED; do
  echo "{\"name\": \"$cert_name\", \"reason\": \"REVOCATION_REASON_$reason\"}" > "$work/revoke-$reason.json"
done
check "buf curl revokes it; revoking again returns the first revocation" bash -c \
  "for reason in KEY_COMPROMISE SUPERSEDED; do
     buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/revoke-'\$reason.json \
       '$base/chancery.admin.v1.CertificateService/RevokeCertificate' > '$work/revoked-'\$reason.json || exit 1
   done
   grep -q '\"revocationReason\": \"REVOCATION_REASON_KEY_COMPROMISE\"' '$work/revoked-SUPERSEDED.json' &&
     cmp '$work/revoked-KEY_COMPROMISE.json' '$work/revoked-SUPERSEDED.json'"

# The approval queue: the admin submits a request (no CA or profile chosen
# yet) and finds it in the pending queue.
cat > "$work/request.json" <<'JSON'
{"request": {"commonName": "conformance.example.com",
  "subjectAltNames": [{"type": "TYPE_DNS", "value": "conformance.example.com"}],
  "keyAlgorithm": "KEY_ALGORITHM_ECDSA_P256", "comment": "conformance run"}}
JSON
check "buf curl submits a certificate request as the admin (pending)" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/request.json' \
     '$base/chancery.admin.v1.RequestService/CreateRequest' | contains '\"state\": \"STATE_PENDING\"'"
check "buf curl over Connect lists the pending requests, the admin's among them" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' -d '{\"state\": \"STATE_PENDING\"}' \
     '$base/chancery.admin.v1.RequestService/ListRequests' | contains '\"commonName\": \"conformance.example.com\"'"

# Registries: built-in QES policies by reflection, then a profile naming the
# UPN otherName and a QES policy, and a certificate openssl reads them from.
check "buf curl lists the certificate policy registry, the QES built-ins among them" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.RegistryService/ListCertificatePolicies' | contains '\"name\": \"certificatePolicies/qes-individual\"'"
cat > "$work/smartcard-profile.json" <<'JSON'
{"profileId": "conformance-smartcard", "profile": {"validity": {"default": "86400s", "max": "86400s"},
  "extendedKeyUsage": ["clientAuth"], "san": {"allowedTypes": ["SUBJECT_ALT_NAME_TYPE_EMAIL"], "otherNames": ["upn"]},
  "subject": {"keep": ["CN", "snils"]}, "certificatePolicies": [{"policy": "qes-individual"}]}}
JSON
"$node" -e 'const [parent, csr] = process.argv.slice(1);
  console.log(JSON.stringify({ parent, profile: "profiles/conformance-smartcard",
    csrPem: require("fs").readFileSync(csr, "utf8"),
    subject: [{ type: "CN", value: "Ivan" }, { type: "SNILS", value: "12345678901" }],
    subjectAltNames: [{ type: "TYPE_OTHER_NAME", otherName: "upn", value: "ivan@corp.example" }] }))' \
  "$issuing" "$work/leaf.csr" > "$work/smartcard-issue.json"
export -f json_field
export node
check "buf curl creates a profile naming registry entries, and issues under it a certificate openssl reads them from" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/smartcard-profile.json' \
     '$base/chancery.admin.v1.ProfileService/CreateProfile' > /dev/null &&
   buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d @'$work/smartcard-issue.json' \
     '$base/chancery.admin.v1.CertificateService/IssueCertificate' > '$work/smartcard.json' &&
   json_field .certificatePem < '$work/smartcard.json' | openssl x509 -noout -text > '$work/smartcard.txt' &&
   grep -q 'othername: UPN::ivan@corp.example' '$work/smartcard.txt' &&
   grep -q 'Policy: 0.4.0.194112.1.2' '$work/smartcard.txt' &&
   grep -q 'SNILS = 12345678901' '$work/smartcard.txt'"

kill -TERM "$pid"
wait "$pid"
code=$?
pid=""
check "the gateway with the admin listener stops cleanly" test "$code" -eq 0
finish
