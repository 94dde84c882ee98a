#!/usr/bin/env bash
# The SCEP server as a real client meets it: micromdm's scepclient (Debian's
# scep 2.1), unmodified, against a running gateway, plus curl for GetCACaps
# and GetCACert. Enrolment with a static challenge (and a wrong one refused),
# with one-time challenges minted through the admin API (and reuse refused),
# renewal (RenewalReq signed with the issued certificate), a PENDING
# enrolment completed after an approval in the admin queue (scepclient
# re-sends its request every 30 s), an unmodified client against an RSA CA
# (no RA fingerprint needed), and SHA-1/DES refused on an endpoint not opened
# to legacy devices. Every certificate verifies with openssl.
#
# scepclient 2.1 signs with SHA-1 and encrypts with single DES whatever
# GetCACaps says, so its endpoints here have legacyCrypto on. It encrypts to
# every certificate GetCACert returns and only knows RSA: against an ECDSA CA
# it is given the RA certificate's fingerprint (-ca-fingerprint).
source "$(dirname "$0")/../lib.sh"
begin_run scep

metrics=$(free_port)
admin=$(free_port)
scep=$(free_port)
extra_cleanup() {
  # scepclient runs left behind (each is given a key under $work).
  pkill -f -- "-private-key $work/" 2>/dev/null
}

export CHANCERY_DATA_DIR="$data"
listen_on_loopback metrics="$metrics" admin="$admin" scep="$scep"
export CHANCERY_SCEP_BASE_URL="http://127.0.0.1:$scep" CHANCERY_LOG_PRETTY=false
start_gateway SCEP
admin_login
root=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' | json_field '.certificateAuthorities.find(c=>c.displayName==="root").name')

# create_endpoint NAME PROFILE JSON-FIELDS: a SCEP endpoint on the issuing CA.
create_endpoint() {
  admin_call ScepService/CreateScepEndpoint \
    "{\"scepEndpoint\":{\"endpointName\":\"$1\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/$2\",$3}}"
}
check "an endpoint with a static challenge is created" create_endpoint static device \
  '"challengeMode":"CHALLENGE_MODE_STATIC","staticChallenge":"conformance-static-secret","legacyCrypto":true'
check "an endpoint with one-time challenges is created" create_endpoint dynamic device \
  '"challengeMode":"CHALLENGE_MODE_DYNAMIC","legacyCrypto":true'
check "an endpoint without legacy algorithms is created" create_endpoint modern device \
  '"challengeMode":"CHALLENGE_MODE_STATIC","staticChallenge":"conformance-static-secret"'

url="http://127.0.0.1:$scep/scep"
check "GetCACaps advertises the RFC 8894 capabilities" bash -c \
  "curl -fsS '$url/static/pkiclient.exe?operation=GetCACaps' | tee '$work/caps' | contains -x SCEPStandard &&
   grep -qx AES '$work/caps' && grep -qx POSTPKIOperation '$work/caps' && grep -qx SHA-256 '$work/caps' &&
   grep -qx Renewal '$work/caps' && grep -qx DES3 '$work/caps'"
check "a modern endpoint does not offer SHA-1 or DES3" bash -c \
  "curl -fsS '$url/modern?operation=GetCACaps' > '$work/caps-modern' && ! grep -qxE 'SHA-1|DES3' '$work/caps-modern'"
check "GetCACert answers the RA and CA certificates as PKCS#7" bash -c \
  "curl -fsS -D '$work/cacert.headers' -o '$work/cacert.p7' '$url/static?operation=GetCACert' &&
   grep -qi 'content-type: application/x-x509-ca-ra-cert' '$work/cacert.headers' &&
   openssl pkcs7 -inform DER -in '$work/cacert.p7' -print_certs > '$work/cacert.pem' &&
   grep -q 'SCEP RA' '$work/cacert.pem' && [ \$(grep -c 'BEGIN CERTIFICATE' '$work/cacert.pem') -ge 3 ]"
check "an unknown endpoint is a 404" bash -c \
  "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$url/nope?operation=GetCACaps')\" = 404 ]"

# ra_fingerprint NAME: SHA-256 of the endpoint's RA certificate (the first one GetCACert returns).
ra_fingerprint() {
  curl -fsS "$url/$1?operation=GetCACert" | openssl pkcs7 -inform DER -print_certs |
    awk '/BEGIN CERT/{n++} n==1' | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :
}
# enrol DIR ENDPOINT [scepclient flags...]: one scepclient run in its own directory (it writes csr.pem, self.pem there).
enrol() {
  local dir="$work/$1" endpoint=$2
  shift 2
  mkdir -p "$dir"
  scepclient -server-url "$url/$endpoint" -private-key "$dir/key.pem" -certificate "$dir/client.pem" \
    -ca-fingerprint "$(ra_fingerprint "$endpoint")" "$@" > "$dir/out.log" 2>&1 || { cat "$dir/out.log"; return 1; }
}
# refused DIR ENDPOINT [flags...]: scepclient fails, and says the server answered FAILURE with a failInfo.
refused() {
  ! enrol "$@" > /dev/null && grep -qi 'failInfo' "$work/$1/out.log"
}

check "scepclient enrols with the static challenge" enrol static1 static -cn device-static -challenge conformance-static-secret
check "the certificate verifies as a client certificate" verify_device "$work/static1/client.pem" device-static
check "a wrong static challenge is refused with a failInfo" refused static2 static -cn device-wrong -challenge wrong-secret-123
serial1=$(openssl x509 -in "$work/static1/client.pem" -noout -serial 2>/dev/null)
check "scepclient renews with its certificate (RenewalReq)" enrol static1 static -cn device-static
check "the renewal is a new certificate" bash -c "[ \"\$(openssl x509 -in '$work/static1/client.pem' -noout -serial)\" != '$serial1' ]"
check "the renewed certificate verifies, for the same device" verify_device "$work/static1/client.pem" device-static
check "a modern endpoint refuses scepclient's SHA-1 request" refused modern1 modern -cn device-modern \
  -challenge conformance-static-secret
check "... with failInfo badAlg" grep -qiE 'badAlg|failInfo: 0' "$work/modern1/out.log"

# One-time challenges are enrollment secrets minted for the endpoint (EnrollmentSecretService).
dynamic=$(admin_call ScepService/ListScepEndpoints '{}' | json_field '.scepEndpoints.find(e=>e.endpointName==="dynamic").name')
challenge=$(admin_call EnrollmentSecretService/CreateEnrollmentSecret \
  "{\"enrollmentSecret\":{\"scepEndpoint\":\"$dynamic\"}}" | json_field .secret)
hex40() { [[ "$1" =~ ^[0-9a-f]{40}$ ]]; }
check "a one-time challenge is minted through the admin API (40 hex digits)" hex40 "$challenge"
check "scepclient enrols with the one-time challenge" enrol dynamic1 dynamic -cn device-dynamic -challenge "$challenge"
check "the certificate verifies" verify_device "$work/dynamic1/client.pem" device-dynamic
check "the same challenge is refused the second time" refused dynamic2 dynamic -cn device-again -challenge "$challenge"
spent_by_transaction() { # used_by is the transactionID of the issued enrolment on that endpoint
  local used issued
  used=$(admin_call EnrollmentSecretService/ListEnrollmentSecrets "{\"scepEndpoint\":\"$dynamic\"}" |
    json_field '.enrollmentSecrets[0].usedBy ?? ""')
  issued=$(admin_call AuditService/ListAuditEvents '{"filter":{"action":"scep.enrolment.issue"},"pageSize":100}' |
    json_field '.auditEvents.filter(e=>e.details.endpoint==="dynamic").map(e=>e.details.transactionId).join(" ")')
  [ -n "$used" ] && [ "$used" = "$issued" ] || { echo "used_by '$used', issued transactions '$issued'"; return 1; }
}
check "the admin API shows it spent, by the enrolment's transactionID" spent_by_transaction

# --- an RSA PKI: the unmodified client encrypts to every certificate GetCACert returns, no fingerprint needed ----
check "an RSA root CA is created" admin_call CertificateAuthorityService/CreateRootCertificateAuthority \
  '{"displayName":"rsa-root","subject":[{"type":"CN","value":"Chancery SCEP RSA Root"}],"keyAlgorithm":"KEY_ALGORITHM_RSA_2048","validityDays":730,"pathLen":1}'
rsa_root=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' | json_field '.certificateAuthorities.find(c=>c.displayName==="rsa-root").name')
check "an RSA issuing CA is created under it" admin_call CertificateAuthorityService/CreateIntermediateCertificateAuthority \
  "{\"displayName\":\"rsa-issuing\",\"parent\":\"$rsa_root\",\"subject\":[{\"type\":\"CN\",\"value\":\"Chancery SCEP RSA CA\"}],\"keyAlgorithm\":\"KEY_ALGORITHM_RSA_2048\",\"validityDays\":365,\"pathLen\":0}"
rsa=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' | json_field '.certificateAuthorities.find(c=>c.displayName==="rsa-issuing").name')
check "an endpoint on the RSA CA is created" admin_call ScepService/CreateScepEndpoint \
  "{\"scepEndpoint\":{\"endpointName\":\"rsa\",\"certificateAuthority\":\"$rsa\",\"profile\":\"profiles/device\",\"challengeMode\":\"CHALLENGE_MODE_STATIC\",\"staticChallenge\":\"conformance-static-secret\",\"legacyCrypto\":true}}"
mkdir -p "$work/rsa1"
check "scepclient enrols on it with no RA fingerprint" scepclient -server-url "$url/rsa" -private-key "$work/rsa1/key.pem" \
  -certificate "$work/rsa1/client.pem" -cn device-rsa -challenge conformance-static-secret
admin_call CertificateAuthorityService/GetCertificateAuthority "{\"name\":\"$rsa_root\"}" | json_field .certificateChainPem > "$work/rsa-root.pem"
admin_call CertificateAuthorityService/GetCertificateAuthority "{\"name\":\"$rsa\"}" | json_field .certificateChainPem > "$work/rsa-ca.pem"
check "its certificate chains to the RSA root" openssl verify -CAfile "$work/rsa-root.pem" -untrusted "$work/rsa-ca.pem" \
  "$work/rsa1/client.pem"

# --- PENDING: an enrolment that waits for an approval ---------------------------------------------
check "a device profile that requires approval is created" create_approval_profile device device-approved
check "an endpoint on it is created" create_endpoint approval device-approved \
  '"challengeMode":"CHALLENGE_MODE_STATIC","staticChallenge":"conformance-static-secret","legacyCrypto":true'
enrol pending1 approval -cn device-pending -challenge conformance-static-secret &
client_pid=$!
pending_request() {
  admin_call RequestService/ListRequests '{"state":"STATE_PENDING"}' |
    json_field '.requests?.find(r=>r.protocolRequester?.startsWith("scep:approval/"))?.name ?? ""'
}
check "the enrolment waits in the approval queue (PENDING)" wait_for 60 bash -c \
  "$(declare -f admin_call json_field pending_request); ca='$ca' token='$token' base='$base' node='$node'; pending_request | contains requests/"
check "scepclient was told PENDING" wait_for 10 grep -q PENDING "$work/pending1/out.log"
request=$(pending_request)
check "an admin approves it through the admin API" admin_call RequestService/ApproveRequest "{\"name\":\"$request\"}"
wait "$client_pid"
client_status=$?
check "scepclient, re-sending its request, gets the certificate" bash -c "[ $client_status -eq 0 ]"
check "the approved certificate verifies" verify_device "$work/pending1/client.pem" device-pending

admin_call AuditService/ListAuditEvents '{"filter":{"action":"scep.enrolment.issue"},"pageSize":100}' > "$work/audit.json"
check "every issued enrolment is audited with its transactionID" bash -c \
  "[ \$(grep -c '\"transactionId\"' '$work/audit.json') -ge 5 ]"
check "... and its challenge mode (static, dynamic, renewal)" bash -c \
  "grep -q '\"challengeMode\": *\"dynamic\"' '$work/audit.json' && grep -q '\"challengeMode\": *\"renewal\"' '$work/audit.json'"
check "the gateway logged no internal error" bash -c "! grep -q '\"level\":50' '$work/gateway.log'"
[ "$failed" -gt 0 ] && tail -30 "$work/gateway.log"
finish
