#!/usr/bin/env bash
# The EST server (RFC 7030) as its own examples drive it: curl and openssl,
# unmodified, against a running gateway. /cacerts read with `openssl pkcs7
# -print_certs`; /csrattrs decoded with `openssl asn1parse`; /simpleenroll
# with HTTP Basic (a gateway token, and a one-time enrollment secret minted
# through the admin API, refused the second time) and with a TLS client
# certificate; /simplereenroll with the issued certificate (refused with a
# foreign certificate or a changed subject); /serverkeygen whose key matches
# its certificate; a 202 with Retry-After, then the certificate once an admin
# approves; and the TLS 1.3 channel binding (RFC 9266 tls-exporter) read by
# `openssl s_client -keymatexport` and put into the CSR sent over that same
# connection, refused when it is another value. Every certificate verifies
# with openssl against the gateway's root.
source "$(dirname "$0")/../lib.sh"
begin_run est

metrics=$(free_port)
admin=$(free_port)
est=$(free_port)

export CHANCERY_DATA_DIR="$data"
listen_on_loopback metrics="$metrics" admin="$admin" est="$est"
export CHANCERY_EST_BASE_URL="https://localhost:$est" CHANCERY_EST_RETRY_AFTER=2s CHANCERY_LOG_PRETTY=false
start_gateway EST
admin_login
url="https://localhost:$est/.well-known/est"

# est_call OUT CURL-ARGS...: an EST request with curl trusting the gateway's root; prints the HTTP status,
# the body goes to $work/OUT and the headers to $work/OUT.h.
est_call() {
  local out=$1
  shift
  curl -sS --cacert "$ca" -D "$work/$out.h" -o "$work/$out" -w '%{http_code}' "$@"
}
# enroll OUT CSR-NAME PATH CURL-ARGS...: POSTs $work/CSR-NAME.b64 as application/pkcs10.
enroll() {
  local out=$1 csr=$2 path=$3
  shift 3
  est_call "$out" -H "Content-Type: application/pkcs10" --data-binary @"$work/$csr.b64" "$@" "$url/$path"
}
# new_csr NAME SUBJECT [openssl req args...]: an ECDSA P-256 key NAME.key and its CSR, base64 DER, in NAME.b64.
new_csr() {
  local name=$1 subject=$2
  shift 2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$name.key" \
    -subj "$subject" -outform DER -out "$work/$name.der" "$@" 2>/dev/null &&
    base64 -w 64 "$work/$name.der" > "$work/$name.b64"
}
# certs_of OUT PEM: the certificates of the base64 certs-only PKCS#7 in $work/OUT, as $work/PEM.
certs_of() { base64 -d "$work/$1" | openssl pkcs7 -inform DER -print_certs -out "$work/$2"; }
# verified PEM SUBJECT: the certificate chains to the gateway's root and has this subject.
verified() {
  openssl verify -CAfile "$ca" -untrusted "$chain" -purpose sslclient "$work/$1" &&
    openssl x509 -in "$work/$1" -noout -subject | contains "$2"
}
same_key() { # PEM KEY-FILE KEY-FORM
  [ "$(openssl x509 -in "$work/$1" -noout -pubkey)" = "$(openssl pkey -inform "$3" -in "$work/$2" -pubout)" ]
}
expect() { # WANT GOT: equal, or say what came instead
  [ "$1" = "$2" ] || { echo "expected $1, got $2"; return 1; }
}

# --- /cacerts and /csrattrs (RFC 7030 §4.1, §4.5) ----------------------------
cacerts() {
  expect 200 "$(est_call cacerts "$url/cacerts")" &&
    grep -qi '^content-type: application/pkcs7-mime; smime-type=certs-only' "$work/cacerts.h" &&
    certs_of cacerts cacerts.pem && [ "$(grep -c 'BEGIN CERTIFICATE' "$work/cacerts.pem")" -eq 2 ] &&
    grep -q 'Chancery Root CA' "$work/cacerts.pem"
}
check "cacerts: a base64 certs-only PKCS#7 that openssl pkcs7 -print_certs reads" cacerts
csrattrs() {
  expect 200 "$(est_call csrattrs "$url/csrattrs")" && grep -qi '^content-type: application/csrattrs' "$work/csrattrs.h" &&
    base64 -d "$work/csrattrs" | openssl asn1parse -inform DER | tee "$work/csrattrs.txt" | contains commonName
}
check "csrattrs: what the profile wants, decoded by openssl asn1parse" csrattrs

# --- /simpleenroll with HTTP Basic and with a client certificate (§4.2) -----
new_csr anon "/CN=anon"
anonymous() {
  expect 401 "$(enroll anon.txt anon simpleenroll)" && grep -qi '^www-authenticate: Basic realm=' "$work/anon.txt.h"
}
check "simpleenroll without credentials is 401 with WWW-Authenticate: Basic" anonymous
new_csr device "/CN=est-device/O=Conformance" -addext "subjectAltName=DNS:est-device.example.test"
basic() {
  expect 200 "$(enroll device.p7 device simpleenroll --user "admin:$token")" &&
    grep -qi '^content-type: application/pkcs7-mime; smime-type=certs-only' "$work/device.p7.h" &&
    certs_of device.p7 device.pem && verified device.pem 'CN = est-device' && same_key device.pem device.key PEM &&
    openssl x509 -in "$work/device.pem" -noout -ext subjectAltName | contains 'DNS:est-device.example.test'
}
check "simpleenroll with HTTP Basic (a gateway admin's token): the certificate verifies, for the CSR" basic
new_csr second "/CN=est-second"
client_certificate() {
  expect 200 "$(enroll second.p7 second simpleenroll --cert "$work/device.pem" --key "$work/device.key")" &&
    certs_of second.p7 second.pem && verified second.pem 'CN = est-second'
}
check "simpleenroll with that certificate as the TLS client certificate (no password)" client_certificate
one_line() {
  tr -d '\n' < "$work/second.b64" > "$work/flat.b64" &&
    expect 200 "$(enroll flat.p7 flat simpleenroll --user "admin:$token" -H 'Content-Transfer-Encoding: base64')"
}
check "a CSR without line breaks, with Content-Transfer-Encoding: base64, is read the same" one_line
refusals() {
  expect 415 "$(est_call type.txt --user "admin:$token" -H 'Content-Type: text/plain' --data-binary @"$work/second.b64" "$url/simpleenroll")" &&
    expect 501 "$(est_call cmc.txt -H 'Content-Type: application/pkcs7-mime' -d x "$url/fullcmc")" &&
    expect 400 "$(est_call junk.txt --user "admin:$token" -H 'Content-Type: application/pkcs10' -d 'bm90IGEgQ1NS' "$url/simpleenroll")" &&
    grep -q CSR "$work/junk.txt"
}
check "wrong content type 415, Full CMC 501, a body that is no CSR 400, each with a text reason" refusals

# --- /simplereenroll (§4.2.2) ------------------------------------------------
new_csr renew "/CN=est-device/O=Conformance" -addext "subjectAltName=DNS:est-device.example.test"
reenroll() {
  expect 200 "$(enroll renew.p7 renew simplereenroll --cert "$work/device.pem" --key "$work/device.key")" &&
    certs_of renew.p7 renew.pem && verified renew.pem 'CN = est-device' && same_key renew.pem renew.key PEM &&
    [ "$(openssl x509 -in "$work/renew.pem" -noout -serial)" != "$(openssl x509 -in "$work/device.pem" -noout -serial)" ]
}
check "simplereenroll with the issued certificate renews it (same subject, new key)" reenroll
new_csr changed "/CN=someone-else/O=Conformance" -addext "subjectAltName=DNS:est-device.example.test"
changed_subject() {
  expect 403 "$(enroll changed.txt changed simplereenroll --cert "$work/device.pem" --key "$work/device.key")" &&
    grep -q 'keep the subject' "$work/changed.txt"
}
check "simplereenroll asking for another subject is refused (403)" changed_subject
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/foreign.key" \
  -out "$work/foreign.pem" -subj "/CN=est-device/O=Conformance" -days 1 2>/dev/null
foreign() {
  expect 403 "$(enroll foreign.txt renew simplereenroll --cert "$work/foreign.pem" --key "$work/foreign.key")" &&
    grep -q 'not issued by this gateway' "$work/foreign.txt"
}
check "simplereenroll with a certificate this gateway did not issue is refused (403)" foreign

# --- one-time enrollment secrets ---------------------------------------------
default_label=$(admin_call EstService/ListEstLabels '{}' | json_field '.estLabels.find(l=>l.label==="default").name')
# Minted for the label through EnrollmentSecretService, bound to the subject the device will ask for.
secret=$(admin_call EnrollmentSecretService/CreateEnrollmentSecret \
  "{\"enrollmentSecret\":{\"estLabel\":\"$default_label\",\"boundSubject\":\"CN=est-secret\"}}" | json_field .secret)
new_csr secret1 "/CN=est-secret"
new_csr secret2 "/CN=est-secret"
with_secret() {
  expect 200 "$(enroll secret1.p7 secret1 simpleenroll --user "device-42:$secret")" &&
    certs_of secret1.p7 secret1.pem && verified secret1.pem 'CN = est-secret'
}
check "simpleenroll with a one-time enrollment secret (admin API) as the Basic password" with_secret
secret_again() { expect 401 "$(enroll secret2.txt secret2 simpleenroll --user "device-42:$secret")"; }
check "the same secret a second time is refused (401)" secret_again
spent_by_certificate() {
  local serial
  serial=$(openssl x509 -in "$work/secret1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
  admin_call EnrollmentSecretService/ListEnrollmentSecrets "{\"estLabel\":\"$default_label\"}" |
    json_field '.enrollmentSecrets.map(s=>s.usedBy).join(" ")' | contains -w "certificate:0*$serial"
}
check "the admin API shows the secret spent by that certificate" spent_by_certificate

# --- /serverkeygen (§4.4) ----------------------------------------------------
check "a label with server-side key generation is created" admin_call EstService/CreateEstLabel \
  "{\"estLabel\":{\"label\":\"keygen\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/device\",\"authMode\":\"AUTH_MODE_BASIC\",\"serverKeygenAllowed\":true}}"
new_csr keygen "/CN=est-keygen"
# part N FILE: the base64 body of the Nth part of a multipart answer, decoded.
part() { awk -v n="$1" '/^--/{p++; b=0; next} /^\r?$/{b=1; next} b && p==n' "$work/$2" | tr -d '\r' | base64 -d; }
serverkeygen() {
  expect 200 "$(enroll keygen.body keygen keygen/serverkeygen --user "admin:$token")" &&
    grep -qi '^content-type: multipart/mixed; boundary=' "$work/keygen.body.h" &&
    grep -q '^Content-Type: application/pkcs8' "$work/keygen.body" &&
    part 1 keygen.body > "$work/keygen-key.der" && part 2 keygen.body > "$work/keygen-certs.der" &&
    openssl pkcs7 -inform DER -in "$work/keygen-certs.der" -print_certs -out "$work/keygen.pem" &&
    verified keygen.pem 'CN = est-keygen' && same_key keygen.pem keygen-key.der DER &&
    ! same_key keygen.pem keygen.key PEM
}
check "serverkeygen: multipart/mixed with a PKCS#8 key and the certificate for that key" serverkeygen

# --- otherName SANs: the Microsoft UPN (MS-WCCE) an 802.1X supplicant's CSR asks for ----------
admin_call ProfileService/GetProfile '{"name":"profiles/device"}' |
  "$node" -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const p=JSON.parse(s);
    delete p.name; delete p.createTime; delete p.updateTime;
    p.san={...p.san,otherNames:["upn"]}; p.description="device, with the user principal name";
    process.stdout.write(JSON.stringify({profile:p,profileId:"device-upn"}))})' > "$work/upn-profile.json"
upn_label() {
  admin_call ProfileService/CreateProfile "@$work/upn-profile.json" &&
    admin_call EstService/CreateEstLabel \
      "{\"estLabel\":{\"label\":\"upn\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/device-upn\",\"authMode\":\"AUTH_MODE_BASIC\"}}"
}
check "a profile allowing upn otherName SANs, and a label on it, are created" upn_label
new_csr upn "/CN=est-upn" \
  -addext "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com,DNS:est-upn.example.test"
upn() {
  expect 200 "$(enroll upn.p7 upn upn/simpleenroll --user "admin:$token")" &&
    certs_of upn.p7 upn.pem && verified upn.pem 'CN = est-upn' &&
    openssl x509 -in "$work/upn.pem" -noout -text | tee "$work/upn.txt" | contains 'othername: UPN::alice@example.com' &&
    contains 'DNS:est-upn.example.test' "$work/upn.txt" &&
    # The default label's profile (device) does not allow upn: refused with the reason.
    expect 400 "$(enroll upn-refused.txt upn simpleenroll --user "admin:$token")" &&
    grep -q 'otherName upn' "$work/upn-refused.txt"
}
check "a CSR asking for a UPN otherName gets it (openssl x509 -text shows it), refused where not allowed (400)" upn

# --- 202 + Retry-After, then the certificate once approved (§4.2.3) ---------
check "a profile that requires approval is created" create_approval_profile device device-approved
check "a label on it is created" admin_call EstService/CreateEstLabel \
  "{\"estLabel\":{\"label\":\"approval\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/device-approved\",\"authMode\":\"AUTH_MODE_BASIC\"}}"
approval_label=$(admin_call EstService/ListEstLabels '{}' | json_field '.estLabels.find(l=>l.label==="approval").name')
approval_secret=$(admin_call EnrollmentSecretService/CreateEnrollmentSecret \
  "{\"enrollmentSecret\":{\"estLabel\":\"$approval_label\"}}" | json_field .secret)
new_csr waits "/CN=est-waits"
waiting() {
  expect 202 "$(enroll waits.txt waits approval/simpleenroll --user "device-7:$approval_secret")" &&
    grep -qi '^retry-after: 2' "$work/waits.txt.h"
}
check "simpleenroll on it answers 202 with Retry-After (the secret is spent on the waiting request)" waiting
request=$(admin_call RequestService/ListRequests '{"state":"STATE_PENDING"}' |
  json_field '.requests?.find(r=>r.protocolRequester?.startsWith("est-secret:approval/"))?.name ?? ""')
check "an admin approves it through the admin API" admin_call RequestService/ApproveRequest "{\"name\":\"$request\"}"
collected() {
  expect 200 "$(enroll waits.p7 waits approval/simpleenroll --user "device-7:$approval_secret")" &&
    certs_of waits.p7 waits.pem && verified waits.pem 'CN = est-waits' && same_key waits.pem waits.key PEM
}
check "the same request, sent again, gets the certificate" collected

# --- channel binding (§3.5, RFC 9266 tls-exporter on TLS 1.3) ----------------
check "a label that requires the channel binding is created" admin_call EstService/CreateEstLabel \
  "{\"estLabel\":{\"label\":\"bound\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/device\",\"authMode\":\"AUTH_MODE_BASIC\",\"channelBindingRequired\":true}}"
# bound_enroll NAME MODE: one TLS 1.3 connection through openssl s_client. The CSR, made after the
# handshake, carries base64 of the connection's tls-exporter value (MODE right) or of 32 zero bytes (MODE
# wrong) in challengePassword, and goes out on that same connection. Prints the HTTP status.
bound_enroll() {
  local name=$1 mode=$2 binding="" line body
  local from to cpid
  coproc client { openssl s_client -connect "127.0.0.1:$est" -servername localhost -CAfile "$ca" -tls1_3 \
    -keymatexport EXPORTER-Channel-Binding -keymatexportlen 32 -nocommands -ign_eof 2>/dev/null; }
  from=${client[0]} to=${client[1]} cpid=$client_PID
  while IFS= read -r -t 20 line <&"$from"; do
    case "$line" in *"Keying material:"*) binding=${line##*: }; break ;; esac
  done
  [ -n "$binding" ] || { echo "no keying material from s_client" >&2; return 1; }
  [ "$mode" = right ] || binding=$(printf '%064d' 0)
  printf '[req]\ndistinguished_name=dn\nattributes=attrs\nprompt=no\n[dn]\nCN=%s\n[attrs]\nchallengePassword=%s\n' \
    "$name" "$("$node" -e 'process.stdout.write(Buffer.from(process.argv[1],"hex").toString("base64"))' "$binding")" \
    > "$work/$name.cnf"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$name.key" \
    -config "$work/$name.cnf" -outform DER 2>/dev/null | base64 -w 64 > "$work/$name.b64"
  body=$(cat "$work/$name.b64")
  printf 'POST /.well-known/est/bound/simpleenroll HTTP/1.1\r\nHost: localhost:%s\r\nAuthorization: Basic %s\r\nContent-Type: application/pkcs10\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$est" "$(printf 'admin:%s' "$token" | base64 -w 0)" "${#body}" "$body" >&"$to"
  # The gateway closes the connection after its answer (Connection: close), and s_client ends.
  timeout 20 cat <&"$from" > "$work/$name.response"
  wait "$cpid" 2>/dev/null
  grep -m1 -ao '^HTTP/1.1 [0-9]*' "$work/$name.response" | cut -d' ' -f2
}
bound_right() {
  expect 200 "$(bound_enroll bound-right right)" &&
    # The answer's body: after its headers, the base64 lines (s_client may add its own lines after it).
    # awk reads to the end rather than exit early: an early exit would SIGPIPE sed under pipefail.
    sed -n '/^HTTP\/1.1/,$p' "$work/bound-right.response" | sed '1,/^\r$/d' |
    awk 'done { next } !/^[A-Za-z0-9+\/=]+$/ { done = 1; next } 1' | base64 -d |
    openssl pkcs7 -inform DER -print_certs | contains 'CN = bound-right'
}
check "the CSR carrying this TLS connection's tls-exporter value is enrolled" bound_right
bound_wrong() { expect 403 "$(bound_enroll bound-wrong wrong)" && grep -q 'channel binding' "$work/bound-wrong.response"; }
check "a CSR carrying another value is refused (403) with the reason" bound_wrong
unbound() {
  expect 403 "$(enroll unbound.txt second bound/simpleenroll --user "admin:$token")" &&
    grep -q challengePassword "$work/unbound.txt"
}
check "a CSR without it is refused (403)" unbound

check "the gateway logged no internal error" bash -c "! grep -q 'EST request failed' '$work/gateway.log'"
finish
