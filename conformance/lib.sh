# Shared helpers for conformance scripts: source it, call `check NAME CMD...`,
# and `finish` at the end. Counts go to $CONFORMANCE_COUNTS ("passed failed").
set -uo pipefail
passed=0
failed=0
root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node="$root_dir/node_modules/.bin/node"

check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    printf 'PASS %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n%s\n' "$name" "$(printf '%s' "$out" | tail -20 | sed 's/^/     /')"
  fi
}

# contains GREP-ARGS...: grep that reads all of its input. Under pipefail, `producer | grep -q`
# fails at random: grep -q exits at the first match and the producer's next write gets SIGPIPE.
contains() {
  grep "$@" >/dev/null
}
export -f contains # for the checks that run in `bash -c`

# wait_for TIMEOUT_SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# A free TCP port on 127.0.0.1.
free_port() {
  "$node" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# listen_on_loopback [LISTENER=PORT...]: exports CHANCERY_LISTEN_<LISTENER> for every listener of the
# gateway, on 127.0.0.1: the given port, or a free one. Tests only talk to this machine, and a listener left
# on its default (0.0.0.0, fixed port) would collide with another gateway started by the same run.
listen_on_loopback() {
  local listener port given
  for listener in metrics admin ocsp acme scep est; do
    port=""
    for given in "$@"; do
      [ "${given%%=*}" = "$listener" ] && port=${given#*=}
    done
    [ -n "$port" ] || port=$(free_port)
    export "CHANCERY_LISTEN_${listener^^}=127.0.0.1:$port"
  done
}

# json_field EXPR < JSON: prints d<EXPR> of the JSON on stdin, e.g. json_field .certificatePem
# (strings raw, anything else as JSON).
json_field() {
  "$node" -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{
    const v=new Function("d","return d"+process.argv[1])(JSON.parse(s));
    process.stdout.write(typeof v==="string"?v:JSON.stringify(v))})' "$1"
}

# admin_call RPC JSON-OR-@FILE: a chancery.admin.v1 call over gRPC with `buf curl`, as the
# caller's $token, trusting $ca, against the admin listener at $base.
admin_call() {
  buf curl --protocol grpc --cacert "$ca" -H "Authorization: Bearer $token" -d "$2" "$base/chancery.admin.v1.$1"
}

# start_gateway LISTENER: `node src/main.ts` in the background (as $pid) with the environment the caller
# exported (CHANCERY_DATA_DIR=$data, the listeners), its log in $work/gateway.log; checks that it becomes
# ready on the metrics listener ($metrics), and sets $ca (the root) and $chain (root and issuing CA).
start_gateway() {
  node src/main.ts > "$work/gateway.log" 2>&1 &
  pid=$!
  check "the gateway starts with the $1 listener" wait_for 120 bash -c "curl -fsS http://127.0.0.1:$metrics/readyz"
  ca="$data/root-ca.pem"
  chain="$data/ca-chain.pem"
}

# admin_login: the first admin from `npm run bootstrap-admin`, as $token for admin_call against $base (the
# admin listener on $admin), and $issuing, the resource name of the bootstrap's issuing CA.
admin_login() {
  npm run --silent bootstrap-admin -- --username admin > "$work/bootstrap.out" 2> "$work/bootstrap.err"
  token=$(tail -n 1 "$work/bootstrap.out")
  base="https://localhost:$admin"
  issuing=$(admin_call CertificateAuthorityService/ListCertificateAuthorities '{}' |
    json_field '.certificateAuthorities.find((c)=>c.displayName==="issuing").name')
}

# verify_device CERT CN: CERT chains to the gateway's root ($ca, through $chain) as a TLS client certificate
# and its subject's CN is CN (an enrolled device's certificate).
verify_device() {
  openssl verify -CAfile "$ca" -untrusted "$chain" -purpose sslclient "$1" &&
    openssl x509 -in "$1" -noout -subject | contains "CN *= *$2"
}

# create_approval_profile FROM NEW: creates profile NEW, a copy of profile FROM that issues only after one
# operator approves (the admin queue).
create_approval_profile() {
  admin_call ProfileService/GetProfile "{\"name\":\"profiles/$1\"}" > "$work/profile-$1.json" &&
    "$node" -e 'const [file, from, to] = process.argv.slice(1);
      const p = JSON.parse(require("fs").readFileSync(file, "utf8"));
      delete p.name; delete p.createTime; delete p.updateTime;
      p.requiresApproval = { required: true, approvers: 1 };
      p.description = `${from}, issued after an operator approves`;
      process.stdout.write(JSON.stringify({ profile: p, profileId: to }))' "$work/profile-$1.json" "$1" "$2" \
      > "$work/profile-$2.json" &&
    admin_call ProfileService/CreateProfile "@$work/profile-$2.json"
}

# begin_run NAME: the start of a conformance script. The project's node first on PATH, a scratch
# directory $work (the gateway's data in $data), and an EXIT trap (end_run) that runs the script's
# extra_cleanup if it defines one (its own processes), stops the gateway $pid with SIGTERM (which
# stops its embedded PostgreSQL), kills a PostgreSQL left behind, and removes $work unless KEEP_WORK=1.
begin_run() {
  cd "$root_dir" || exit 1
  export PATH="$root_dir/node_modules/.bin:$PATH"
  work=$(mktemp -d "/tmp/chancery-$1-conf-XXXXXX")
  # The embedded PostgreSQL runs as its own user when we are root and must reach $data inside.
  chmod 711 "$work"
  data="$work/data"
  pid=""
  trap end_run EXIT
}

end_run() {
  if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  pkill -9 -f -- "-D $data/[p]ostgres" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}

finish() {
  printf '%s: %d passed, %d failed\n' "$(basename "$(dirname "$0")")" "$passed" "$failed"
  if [ -n "${CONFORMANCE_COUNTS:-}" ]; then
    read -r p f < "$CONFORMANCE_COUNTS" 2>/dev/null || { p=0; f=0; }
    echo "$((p + passed)) $((f + failed))" > "$CONFORMANCE_COUNTS"
  fi
  [ "$failed" -eq 0 ]
}
