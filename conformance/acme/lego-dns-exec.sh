#!/usr/bin/env bash
# lego's "exec" DNS provider (https://go-acme.github.io/lego/dns/exec/): lego
# calls this with "present|cleanup FQDN VALUE"; the TXT record goes into
# pebble-challtestsrv, the local DNS server the gateway validates against.
set -euo pipefail
action=$1 fqdn=$2 value=$3
case "$action" in
  present) curl -fsS -d "{\"host\":\"$fqdn\",\"value\":\"$value\"}" "http://127.0.0.1:$CHALLTESTSRV_MANAGEMENT/set-txt" ;;
  cleanup) curl -fsS -d "{\"host\":\"$fqdn\"}" "http://127.0.0.1:$CHALLTESTSRV_MANAGEMENT/clear-txt" ;;
  *) exit 0 ;;
esac
