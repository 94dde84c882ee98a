#!/usr/bin/env bash
# The admin API as an operator meets it: npm run bootstrap-admin prints a
# token once; `buf curl` finds the services by gRPC reflection (no .proto
# files) and calls them over gRPC and Connect; curl speaks Connect JSON;
# gRPC health answers without a token; calls without one are refused.
source "$(dirname "$0")/../lib.sh"
cd "$root_dir"
export PATH="$root_dir/node_modules/.bin:$PATH"

work=$(mktemp -d /tmp/chancery-admin-conf-XXXXXX)
chmod 711 "$work"
data="$work/data"
metrics=$(free_port)
admin=$(free_port)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  pkill -9 -f -- "-D $data/[p]ostgres" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export CHANCERY_DATA_DIR="$data" CHANCERY_LISTEN_METRICS="127.0.0.1:$metrics" CHANCERY_LISTEN_ADMIN="127.0.0.1:$admin"
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
  "buf curl --cacert '$ca' --list-services '$base' | grep -q chancery.admin.v1.CertificateAuthorityService"
check "buf curl over gRPC lists the CAs with the admin token" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.CertificateAuthorityService/ListCertificateAuthorities' | grep -q '\"displayName\": \"issuing\"'"
check "buf curl over Connect verifies the audit chain" bash -c \
  "buf curl --protocol connect --cacert '$ca' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.AuditService/VerifyAuditChain' | grep -q '\"intact\": true'"
check "a call without a token is refused as unauthenticated" bash -c \
  "! buf curl --protocol grpc --cacert '$ca' -d '{}' '$base/chancery.admin.v1.AuditService/VerifyAuditChain' 2> '$work/anon.err'
   grep -qi unauthenticated '$work/anon.err'"
check "gRPC health answers SERVING without a token" bash -c \
  "buf curl --protocol grpc --cacert '$ca' -d '{}' '$base/grpc.health.v1.Health/Check' | grep -q SERVING"
check "curl speaks Connect JSON to the admin API" bash -c \
  "curl -fsS --cacert '$ca' -H 'Content-Type: application/json' -H 'Authorization: Bearer $token' -d '{}' \
     '$base/chancery.admin.v1.UserService/GetCurrentUser' | grep -q '\"username\":\"admin\"'"
check "curl gets HTTP 401 and a Connect error without a token" bash -c \
  "[ \$(curl -s -o '$work/err.json' -w '%{http_code}' --cacert '$ca' -H 'Content-Type: application/json' -d '{}' \
     '$base/chancery.admin.v1.UserService/GetCurrentUser') = 401 ] && grep -q unauthenticated '$work/err.json'"

kill -TERM "$pid"
wait "$pid"
code=$?
pid=""
check "the gateway with the admin listener stops cleanly" test "$code" -eq 0
finish
