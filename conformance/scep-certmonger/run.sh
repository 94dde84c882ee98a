#!/usr/bin/env bash
# The SCEP server as certmonger meets it: Debian's certmonger 0.79 (the
# enrolment daemon of Fedora, RHEL and FreeIPA hosts), unmodified, driven by
# its own `getcert`, against a running gateway: the second real SCEP client
# next to micromdm's scepclient (conformance/scep). It behaves differently
# from that one: it follows GetCACaps (SHA-256 and AES-256, so it enrols on
# endpoints closed to legacy algorithms), sends PKIOperation by GET, picks
# the RA certificate out of GetCACert by itself (no fingerprint, on the
# default ECDSA CA), renews with a new key (rekey) or the same one
# (resubmit), and while an enrolment is PENDING asks again with a rebuilt
# PKCSReq (same transactionID, new senderNonce) that the gateway answers as
# a poll of the waiting transaction (decision 0010).
#
# certmonger talks to getcert over D-Bus: the run starts a private bus and
# one certmonger on it (`-s`), with all its state under $work.
source "$(dirname "$0")/../lib.sh"
begin_run scep-certmonger

metrics=$(free_port)
admin=$(free_port)
scep=$(free_port)
bus_pid=""
certmonger_pid=""
extra_cleanup() {
  [ -n "$certmonger_pid" ] && kill "$certmonger_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
}

export CHANCERY_DATA_DIR="$data"
listen_on_loopback metrics="$metrics" admin="$admin" scep="$scep"
export CHANCERY_SCEP_BASE_URL="http://127.0.0.1:$scep" CHANCERY_LOG_PRETTY=false
start_gateway SCEP
admin_login

# create_endpoint NAME PROFILE JSON-FIELDS: a SCEP endpoint on the (ECDSA) issuing CA, legacy algorithms off.
create_endpoint() {
  admin_call ScepService/CreateScepEndpoint \
    "{\"scepEndpoint\":{\"endpointName\":\"$1\",\"certificateAuthority\":\"$issuing\",\"profile\":\"profiles/$2\",$3}}"
}
check "an endpoint with a static challenge is created" create_endpoint static device \
  '"challengeMode":"CHALLENGE_MODE_STATIC","staticChallenge":"certmonger-static-secret"'
check "an endpoint with one-time challenges is created" create_endpoint dynamic device \
  '"challengeMode":"CHALLENGE_MODE_DYNAMIC"'
check "a device profile that requires approval is created" create_approval_profile device device-approved
check "an endpoint on it is created" create_endpoint approval device-approved \
  '"challengeMode":"CHALLENGE_MODE_STATIC","staticChallenge":"certmonger-static-secret"'

# --- certmonger on a private session bus ---------------------------------------------------------
# Its state (CAs, requests, lock) under $work, not /var/lib/certmonger; a bus of its own without service
# activation, so the certmonger started here (with its log) is the one getcert reaches.
cm="$work/certmonger"
mkdir -p "$cm/requests" "$cm/cas" "$cm/local" "$cm/tmp"
export CERTMONGER_CONFIG_DIR="$cm" CERTMONGER_REQUESTS_DIR="$cm/requests" CERTMONGER_CAS_DIR="$cm/cas" \
  CERTMONGER_LOCAL_CA_DIR="$cm/local" CERTMONGER_TMPDIR="$cm/tmp" CERTMONGER_SYSTEM_LOCK_FILE="$cm/lock"
export HOME="$cm"
cat > "$cm/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$cm/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
read -r DBUS_SESSION_BUS_ADDRESS bus_pid < <(dbus-daemon --config-file="$cm/bus.conf" --fork --print-address=1 --print-pid=1 2>/dev/null | paste -s -d ' ')
export DBUS_SESSION_BUS_ADDRESS
certmonger -s -n -d 2 > "$work/certmonger.log" 2>&1 &
certmonger_pid=$!
check "certmonger starts on the session bus" wait_for 30 getcert list-cas -s

url="http://127.0.0.1:$scep/scep"
# add_ca NAME ENDPOINT: GetCACaps and GetCACert through certmonger's scep-submit helper.
add_ca() {
  getcert add-scep-ca -s -c "$1" -u "$url/$2" -v &&
    wait_for 30 bash -c "getcert list-cas -s -c '$1' | contains 'SCEP CA certificate thumbprint'"
}
# request ID CA CN [getcert request flags...]: a key and a request tracked as ID, waiting for the answer.
request() {
  local id=$1 ca_name=$2 cn=$3
  shift 3
  mkdir -p "$work/$id"
  getcert request -s -I "$id" -c "$ca_name" -k "$work/$id/key.pem" -f "$work/$id/cert.pem" -N "CN=$cn" \
    -w --wait-timeout 60 -v "$@"
}
status() { getcert list -s -i "$1" | awk -F': ' '/^\tstatus:/{print $2}'; }
has_status() { [ "$(status "$1")" = "$2" ] || { getcert list -s -i "$1"; return 1; }; }

check "certmonger learns the static endpoint (GetCACaps, GetCACert, no fingerprint given)" add_ca chancery static
check "it enrols with the static challenge" request static1 chancery cm-static -L certmonger-static-secret
check "the request is issued and monitored" has_status static1 MONITORING
check "the certificate verifies as a client certificate" verify_device "$work/static1/cert.pem" cm-static
check "a wrong challenge is refused (CA_REJECTED)" bash -c \
  "$(declare -f request status has_status); work='$work' url='$url'
   request static2 chancery cm-wrong -L wrong-secret-1234; has_status static2 CA_REJECTED"

# fingerprint FIELD: the certificate's serial (-serial) or its public key's SHA-256 (-pubkey).
fingerprint() {
  if [ "$1" = -serial ]; then openssl x509 -in "$work/static1/cert.pem" -noout -serial
  else openssl x509 -in "$work/static1/cert.pem" -noout -pubkey | openssl sha256; fi
}
# renewed_from SERIAL KEY SAME|NEW: a certificate with another serial, on the same or a new key.
renewed_from() {
  [ -s "$work/static1/cert.pem" ] && [ "$(fingerprint -serial)" != "$1" ] &&
    if [ "$3" = SAME ]; then [ "$(fingerprint -pubkey)" = "$2" ]; else [ "$(fingerprint -pubkey)" != "$2" ]; fi
}
serial=$(fingerprint -serial) key=$(fingerprint -pubkey)
check "it renews the certificate with a new key (getcert rekey)" getcert rekey -s -i static1 -w --wait-timeout 60 -v
check "... to a new certificate for the new key" wait_for 30 renewed_from "$serial" "$key" NEW
check "the renewed certificate verifies, for the same device" verify_device "$work/static1/cert.pem" cm-static
serial=$(fingerprint -serial) key=$(fingerprint -pubkey)
check "it renews the certificate on the same key (getcert resubmit)" getcert resubmit -s -i static1 -w --wait-timeout 60 -v
check "... to a new certificate for the same key" wait_for 30 renewed_from "$serial" "$key" SAME

dynamic=$(admin_call ScepService/ListScepEndpoints '{}' | json_field '.scepEndpoints.find(e=>e.endpointName==="dynamic").name')
challenge=$(admin_call EnrollmentSecretService/CreateEnrollmentSecret \
  "{\"enrollmentSecret\":{\"scepEndpoint\":\"$dynamic\"}}" | json_field .secret)
check "certmonger learns the one-time challenge endpoint" add_ca chancery-dynamic dynamic
check "it enrols with a one-time challenge" request dynamic1 chancery-dynamic cm-dynamic -L "$challenge"
check "the certificate verifies" verify_device "$work/dynamic1/cert.pem" cm-dynamic
check "the same challenge is refused the second time" bash -c \
  "$(declare -f request status has_status); work='$work' url='$url'
   request dynamic2 chancery-dynamic cm-again -L '$challenge'; has_status dynamic2 CA_REJECTED"

# --- PENDING, then the certificate after an approval ---------------------------------------------
check "certmonger learns the endpoint that needs approval" add_ca chancery-approval approval
# for_approval JS-FILTER: the queue entries of the approval endpoint's enrolments, through JS-FILTER.
for_approval() {
  admin_call RequestService/ListRequests '{}' |
    json_field ".requests?.filter(r=>r.protocolRequester?.startsWith('scep:approval/'))$1"
}
pending_request() { for_approval '.find(r=>r.state==="STATE_PENDING")?.name ?? ""'; }
with_admin="$(declare -f admin_call json_field for_approval pending_request); ca='$ca' token='$token' base='$base' node='$node'"
# scep_messages ENDPOINT TYPE STATUS: how many CertReps the gateway counted (chancery_scep_messages_total).
scep_messages() {
  curl -fsS "http://127.0.0.1:$metrics/metrics" |
    awk -v want="endpoint=\"$1\",message_type=\"$2\",pki_status=\"$3\"" 'index($0, want) {n += $NF} END {print n + 0}'
}
request pending1 chancery-approval cm-pending -L certmonger-static-secret > "$work/pending1.out" 2>&1
check "the enrolment waits in the approval queue" bash -c "$with_admin; pending_request | contains requests/"
check "certmonger was told PENDING and keeps the request (CA_WORKING)" has_status pending1 CA_WORKING
request=$(pending_request)
check "an admin approves it through the admin API" admin_call RequestService/ApproveRequest "{\"name\":\"$request\"}"
# getcert refresh makes certmonger ask now rather than at its next scheduled poll.
check "certmonger asks again (getcert refresh) and gets the certificate" bash -c \
  "getcert refresh -s -i pending1 > /dev/null; $(declare -f status has_status wait_for); wait_for 60 has_status pending1 MONITORING"
check "the approved certificate verifies" verify_device "$work/pending1/cert.pem" cm-pending
check "its rebuilt PKCSReq was a poll of the waiting transaction: one queue entry" bash -c \
  "[ \"\$($with_admin; for_approval .length)\" = 1 ]"
check "the gateway counted the answers: PKCSReq PENDING once, then SUCCESS once" bash -c \
  "$(declare -f scep_messages); metrics=$metrics
   [ \$(scep_messages approval PKCSReq PENDING) -eq 1 ] && [ \$(scep_messages approval PKCSReq SUCCESS) -eq 1 ]"

admin_call AuditService/ListAuditEvents '{"filter":{"action":"scep.enrolment.issue"},"pageSize":100}' > "$work/audit.json"
check "every issued enrolment is audited with its transactionID and challenge mode" bash -c \
  "[ \$(grep -c '\"transactionId\"' '$work/audit.json') -eq 5 ] && grep -q '\"challengeMode\": *\"dynamic\"' '$work/audit.json'"
check "the gateway logged no internal error" bash -c "! grep -q '\"level\":50' '$work/gateway.log'"
[ "$failed" -gt 0 ] && { tail -30 "$work/gateway.log"; tail -40 "$work/certmonger.log"; }
finish
