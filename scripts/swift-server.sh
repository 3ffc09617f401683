#!/usr/bin/env bash
# A single-node OpenStack Swift (Debian's packages) on 127.0.0.1 for tests and benchmarks:
# account, container, object and proxy servers plus memcached, with the s3api, tempauth and
# tempurl middleware, on free ports. Facts behind the choices: ../../shared/notes/swift.md.
#
#   scripts/swift-server.sh start [--state-dir DIR] [--token-life SECONDS] [--workers N]
#                                 [--log-level LEVEL] [--size SIZE] [--keystone] [--watch PID]
#       Starts the servers, waits until a PUT/GET/DELETE works, prints KEY=VALUE lines
#       (also written to DIR/env, sourceable) and exits; the servers keep running. With
#       --watch, a watchdog stops them once process PID has exited (a test run that was
#       killed before its cleanup leaves nothing behind).
#   scripts/swift-server.sh stop DIR      Stops every recorded PID, unmounts, removes DIR.
#   scripts/swift-server.sh status DIR    Exit 0 when every recorded PID is alive.
#
# Users (tempauth; the same pairs are S3 access key / secret, region us-east-1, path style):
#   test:tester / testing     admin of AUTH_test
#   test:tester3 / testing3   member of AUTH_test without rights (403 on private containers)
#   test2:tester2 / testing2  admin of AUTH_test2
# With --keystone, a real Keystone (Debian's python3-keystone over SQLite, its wsgiref test
# server) runs beside it with a second proxy that accepts its tokens (authtoken +
# keystoneauth, accounts KEY_<project id>, same storage servers): user demo / demopw in project demo (role member), and an
# application credential of demo (secret zarrstore-app-secret). Keystone's database and keys are
# built once per machine into a template (a minute on a small machine) and copied per start.
# Storage lives on tmpfs when mounting works (fast, roomy xattrs), else in a plain folder
# whose xattr room is checked (Swift keeps metadata in user.swift.metadata* xattrs).
set -euo pipefail

PY=/usr/bin/python3

die() {
  echo "swift-server: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------- stop
stop_server() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  # The watchdog goes first, unless it is the one stopping the servers.
  if [ -f "$dir/watchdog" ]; then
    local watchdog
    watchdog="$(cat "$dir/watchdog")"
    # Only if that PID is still our watchdog (a PID can be reused once it has exited).
    if [ "$watchdog" != "$$" ] && tr '\0' ' ' <"/proc/$watchdog/cmdline" 2>/dev/null | grep -q " watch $dir "; then
      kill -TERM "$watchdog" 2>/dev/null || true
    fi
  fi
  if [ -f "$dir/pids" ]; then
    # Each server runs in its own session (setsid): its PID is its process group, so its
    # forked workers go with it.
    while read -r name pid; do
      [ -n "$pid" ] || continue
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done <"$dir/pids"
    for _ in $(seq 1 50); do
      local alive=0
      while read -r name pid; do
        kill -0 "$pid" 2>/dev/null && alive=1
      done <"$dir/pids"
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    while read -r name pid; do
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done <"$dir/pids"
  fi
  if mountpoint -q "$dir/srv" 2>/dev/null; then umount "$dir/srv" || umount -l "$dir/srv" || true; fi
  rm -rf "$dir"
}

# Polls every 2 s until process $2 is gone, then stops the servers of $1.
watch_server() {
  local dir="$1" pid="$2"
  while kill -0 "$pid" 2>/dev/null && [ -d "$dir" ]; do sleep 2; done
  stop_server "$dir"
}

status_server() {
  local dir="$1"
  [ -f "$dir/pids" ] || return 1
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || return 1
  done <"$dir/pids"
}

# --------------------------------------------------------------------------------- start
ensure_packages() {
  local need=(swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached)
  local missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run scripts/install-deps.sh as root)"
  echo "swift-server: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

free_ports() {
  # Binds port 0 N times at once so the ports differ; a race with another process is possible
  # but rare, and start-up fails loudly (a server cannot bind) rather than silently.
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Mounts tmpfs on srv when allowed; otherwise keeps the plain folder and checks xattr room.
prepare_storage() {
  local srv="$1" size="$2"
  mkdir -p "$srv"
  local kind=dir
  if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o "size=$size" tmpfs "$srv" 2>/dev/null; then
    kind=tmpfs
  fi
  mkdir -p "$srv/d1"
  if ! "$PY" - "$srv/d1" <<'EOF'; then
import os, sys
path = os.path.join(sys.argv[1], ".xattr-probe")
open(path, "w").close()
try:
    # Swift splits metadata into 254-byte xattrs; a few KiB of object metadata must fit.
    for i in range(32):
        os.setxattr(path, f"user.swift.metadata{i}", b"x" * 254)
finally:
    os.unlink(path)
EOF
    echo "swift-server: WARNING: $srv has little xattr room; objects with a few KiB of metadata will fail (507)" >&2
  fi
  echo "$kind"
}

KEYSTONE_TEMPLATE="${ZARRSTORE_KEYSTONE_TEMPLATE:-/tmp/zarrstore-keystone-template}"

ensure_keystone_packages() {
  local missing=()
  for p in python3-keystone python3-keystonemiddleware; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run scripts/install-deps.sh as root)"
  echo "swift-server: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

keystone_conf() {
  local dir="$1"
  cat <<KSCONF
[DEFAULT]
log_file = $dir/keystone.log
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-receipts
[credential]
key_repository = $dir/credential-keys
KSCONF
}

# Builds the Keystone template once per machine (database, keys, users, the object-store
# service, an application credential); concurrent starts wait on a lock instead of building
# twice. Keystone's CLI costs seconds per call on a small machine: one Python process runs them.
build_keystone_template() {
  mkdir -p "$(dirname "$KEYSTONE_TEMPLATE")"
  exec 9>"$KEYSTONE_TEMPLATE.lock"
  flock 9
  if [ -f "$KEYSTONE_TEMPLATE/ids.env" ]; then
    flock -u 9
    return 0
  fi
  echo "swift-server: building the Keystone template in $KEYSTONE_TEMPLATE (once)" >&2
  local build="$KEYSTONE_TEMPLATE.build"
  rm -rf "$build"
  mkdir -p "$build/fernet-keys" "$build/fernet-receipts" "$build/credential-keys"
  keystone_conf "$build" >"$build/keystone.conf"
  local port
  port="$(free_ports 1)"
  if ! "$PY" - "$build" "$port" <<'PYEOF' >&2; then
import json, os, subprocess, sys, time, urllib.request
build, port = sys.argv[1], sys.argv[2]
conf = f"{build}/keystone.conf"
from keystone.cmd import cli
def manage(*args):
    cli.CONF.reset()
    cli.main(argv=["keystone-manage", "--config-file", conf, *args])
manage("db_sync")
manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
base = f"http://127.0.0.1:{port}/v3"
manage("bootstrap", "--bootstrap-password", "adminpw", "--bootstrap-public-url", base,
       "--bootstrap-region-id", "RegionOne")
env = dict(os.environ, EVENTLET_NO_GREENDNS="yes")
server = subprocess.Popen(["keystone-wsgi-public", "--port", port, "--host", "127.0.0.1", "--",
                           "--config-file", conf],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
try:
    def call(method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.headers, json.loads(r.read() or b"{}")
    def token(user, password, project):
        h, _ = call("POST", "/auth/tokens", {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        return h["X-Subject-Token"]
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base, timeout=5).read()
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.3)
    admin = token("admin", "adminpw", "admin")
    roles = {r["name"]: r["id"] for r in call("GET", "/roles", token=admin)[1]["roles"]}
    projects, users = {}, {}
    for project in ("demo", "service"):
        projects[project] = call("POST", "/projects", {"project": {
            "name": project, "domain_id": "default"}}, admin)[1]["project"]["id"]
    for name, password, project, role in (("demo", "demopw", "demo", "member"),
                                          ("swift", "swiftpw", "service", "admin")):
        users[name] = call("POST", "/users", {"user": {
            "name": name, "password": password, "domain_id": "default",
            "default_project_id": projects[project]}}, admin)[1]["user"]["id"]
        call("PUT", f"/projects/{projects[project]}/users/{users[name]}/roles/{roles[role]}",
             None, admin)
    service = call("POST", "/services", {"service": {
        "type": "object-store", "name": "swift"}}, admin)[1]["service"]["id"]
    endpoint = call("POST", "/endpoints", {"endpoint": {
        "service_id": service, "interface": "public", "region_id": "RegionOne",
        "url": "http://127.0.0.1:1/v1/KEY_$(project_id)s"}}, admin)[1]["endpoint"]["id"]
    demo = token("demo", "demopw", "demo")
    app = call("POST", f"/users/{users['demo']}/application_credentials", {
        "application_credential": {"name": "zarrstore", "secret": "zarrstore-app-secret"}},
        demo)[1]["application_credential"]["id"]
    with open(f"{build}/ids.env", "w") as f:
        f.write(f"KEYSTONE_DEMO_PROJECT_ID={projects['demo']}\n")
        f.write(f"KEYSTONE_APP_CRED_ID={app}\n")
        f.write(f"KEYSTONE_SWIFT_ENDPOINT_ID={endpoint}\n")
finally:
    server.terminate()
    server.wait()
PYEOF
    rm -rf "$build"
    flock -u 9
    die "building the Keystone template failed"
  fi
  rm -rf "$KEYSTONE_TEMPLATE"
  mv "$build" "$KEYSTONE_TEMPLATE"
  flock -u 9
}

# Copies the template, points the catalog at this run's ports and starts Keystone.
start_keystone() {
  local dir="$1" kport="$2" pport="$3"
  ensure_keystone_packages
  build_keystone_template
  local ks="$dir/keystone"
  mkdir -p "$ks"
  cp -r "$KEYSTONE_TEMPLATE/keystone.db" "$KEYSTONE_TEMPLATE/fernet-keys" \
    "$KEYSTONE_TEMPLATE/fernet-receipts" "$KEYSTONE_TEMPLATE/credential-keys" \
    "$KEYSTONE_TEMPLATE/ids.env" "$ks/"
  keystone_conf "$ks" >"$ks/keystone.conf"
  local endpoint_id
  endpoint_id="$(sed -n 's/^KEYSTONE_SWIFT_ENDPOINT_ID=//p' "$ks/ids.env")"
  "$PY" - "$ks/keystone.db" "$endpoint_id" "http://127.0.0.1:$pport/v1/KEY_\$(project_id)s" \
    "http://127.0.0.1:$kport/v3" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE endpoint SET url = ? WHERE id = ?", (sys.argv[3], sys.argv[2]))
db.execute("UPDATE endpoint SET url = ? WHERE id != ?", (sys.argv[4], sys.argv[2]))
db.commit()
PYEOF
  launch "$dir" keystone keystone-wsgi-public --port "$kport" --host 127.0.0.1 -- \
    --config-file "$ks/keystone.conf"
}

build_rings() {
  local etc="$1" aport="$2" cport="$3" oport="$4"
  "$PY" - "$etc" "$aport" "$cport" "$oport" <<'EOF'
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], dict(zip(("account", "container", "object"), map(int, sys.argv[2:5])))
for name, port in ports.items():
    # One replica, partition power 4, one device: the smallest ring that works.
    b = RingBuilder(4, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
               "device": "d1", "weight": 1, "meta": ""})
    b.rebalance()
    b.get_ring().save(f"{etc}/{name}.ring.gz")
EOF
}

write_configs() {
  local dir="$1" etc="$2" mport="$3" aport="$4" cport="$5" oport="$6" pport="$7" kport="${8:-}" kpport="${9:-}"
  local user
  user="$(id -un)"
  local common="[DEFAULT]
bind_ip = 127.0.0.1
devices = $dir/srv
mount_check = false
swift_dir = $etc
user = $user
workers = 1
log_level = $LOG_LEVEL
"
  for kind in account container object; do
    local port
    case $kind in account) port=$aport ;; container) port=$cport ;; object) port=$oport ;; esac
    cat >"$etc/$kind-server.conf" <<EOF
${common}bind_port = $port

[pipeline:main]
pipeline = healthcheck $kind-server

[app:$kind-server]
use = egg:swift#$kind

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  done
  cat >>"$etc/object-server.conf" <<EOF
disable_fallocate = true
EOF
  # s3api sits right before tempauth and before slo (see notes/swift.md).
  proxy_conf "$etc" "$pport" "$mport" "s3api tempauth" "$(tempauth_conf)" >"$etc/proxy-server.conf"
  if [ -n "$kport" ]; then
    # Keystone's proxy: its own process, so that authtoken (which asks Keystone about every
    # token it sees) never slows down the tempauth proxy the other tests use.
    proxy_conf "$etc" "$kpport" "$mport" "authtoken keystoneauth" \
      "$(keystone_filters "$kport" "$mport")" >"$etc/proxy-keystone.conf"
  fi
}

tempauth_conf() {
  cat <<CONF
[filter:tempauth]
use = egg:swift#tempauth
token_life = $TOKEN_LIFE
user_test_tester = testing .admin
user_test_tester3 = testing3
user_test2_tester2 = testing2 .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# Virtual-host style: <bucket>.localhost:<port> (tests resolve it to 127.0.0.1 themselves).
storage_domain = localhost
cors_preflight_allow_origin = *
CONF
}

keystone_filters() {
  local kport="$1" mport="$2"
  cat <<CONF
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:$kport/v3
auth_url = http://127.0.0.1:$kport/v3
auth_type = password
interface = public
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = swiftpw
delay_auth_decision = True
memcached_servers = 127.0.0.1:$mport
http_connect_timeout = 60
http_request_max_retries = 3

[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = KEY_
operator_roles = admin, member
CONF
}

# A proxy config: the common pipeline with `auth` (its middleware names) in the auth slot.
proxy_conf() {
  local etc="$1" port="$2" mport="$3" auth="$4" auth_conf="$5"
  local user
  user="$(id -un)"
  cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
swift_dir = $etc
user = $user
workers = $WORKERS
log_level = $LOG_LEVEL

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit crossdomain formpost $auth staticweb copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
# 0: otherwise one 507 error-limits the only node and every request is 503 for a minute.
error_suppression_interval = 0
# Generous timeouts: the machines running the tests are small and shared, and the defaults
# (0.5 s to connect to a storage server) turn a busy moment into a 503.
conn_timeout = 5
node_timeout = 60
recoverable_node_timeout = 60
cors_allow_origin = *

$auth_conf

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mport
# The default pool (2 connections, 1 s wait) makes tempauth answer 401/503 when many requests
# are in flight on a busy machine.
memcache_max_connections = 64
connect_timeout = 5
pool_timeout = 10
tries = 3
io_timeout = 10

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:ratelimit]
use = egg:swift#ratelimit
[filter:crossdomain]
use = egg:swift#crossdomain
[filter:formpost]
use = egg:swift#formpost
[filter:staticweb]
use = egg:swift#staticweb
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
[filter:symlink]
use = egg:swift#symlink
EOF
}

launch() {
  local dir="$1" name="$2"
  shift 2
  # setsid: the server leads its own process group, so `stop` takes its workers too.
  EVENTLET_NO_GREENDNS=yes setsid "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
  echo "$name $!" >>"$dir/pids"
}

wait_ready() {
  local dir="$1" pport="$2"
  shift 2
  local deadline=$((SECONDS + ${SWIFT_START_TIMEOUT:-60}))
  for port in "$@"; do
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/healthcheck" 2>/dev/null; do
      status_server "$dir" || die "a server died during start-up; logs in $dir/log ($(tail -n 5 "$dir"/log/*.log | tr '\n' ' '))"
      [ $SECONDS -lt $deadline ] || die "port $port not healthy after ${SWIFT_START_TIMEOUT:-60}s; logs in $dir/log"
      sleep 0.1
    done
  done
  # The healthchecks only say the processes listen: prove that auth and storage work.
  "$PY" - "$pport" <<'EOF' || die "smoke test failed; logs in $dir/log"
import sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def call(method, url, headers=None, data=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict(r.headers), r.read()
deadline = time.time() + 30
while True:
    try:
        _, h, _ = call("GET", base + "/auth/v1.0", {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        t, s = {"X-Auth-Token": h["X-Auth-Token"]}, h["X-Storage-Url"]
        call("PUT", s + "/zs-smoke", t)
        call("PUT", s + "/zs-smoke/o", t, b"ok")
        assert call("GET", s + "/zs-smoke/o", t)[2] == b"ok"
        call("DELETE", s + "/zs-smoke/o", t)
        call("DELETE", s + "/zs-smoke", t)
        break
    except Exception as e:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
EOF
}

start_server() {
  local dir="" size="4g" keystone=0 watch=""
  TOKEN_LIFE=86400
  WORKERS=1
  LOG_LEVEL=INFO
  while [ $# -gt 0 ]; do
    case "$1" in
    --state-dir) dir="$2"; shift 2 ;;
    --token-life) TOKEN_LIFE="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --log-level) LOG_LEVEL="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --keystone) keystone=1; shift ;;
    --watch) watch="$2"; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  ensure_packages
  command -v curl >/dev/null || die "curl is needed"
  [ -n "$dir" ] || dir="$(mktemp -d /tmp/zarrstore-swift.XXXXXX)"
  mkdir -p "$dir/etc" "$dir/log" "$dir/run"
  dir="$(cd "$dir" && pwd)"
  : >"$dir/pids"
  # On any failure below (an error or a die), leave nothing running.
  trap 'stop_server "$dir"' EXIT
  local storage
  storage="$(prepare_storage "$dir/srv" "$size")"
  read -r mport aport cport oport pport kport kpport <<<"$(free_ports 7)"
  [ "$keystone" -eq 1 ] || { kport=""; kpport=""; }
  build_rings "$dir/etc" "$aport" "$cport" "$oport"
  write_configs "$dir" "$dir/etc" "$mport" "$aport" "$cport" "$oport" "$pport" "$kport" "$kpport"
  [ -z "$kport" ] || start_keystone "$dir" "$kport" "$kpport"

  local mc=(memcached -l 127.0.0.1 -p "$mport" -U 0 -m 64)
  [ "$(id -u)" -eq 0 ] && mc+=(-u root)
  launch "$dir" memcached "${mc[@]}"
  for kind in account container object proxy; do
    launch "$dir" "$kind" "swift-$kind-server" "$dir/etc/$kind-server.conf" --verbose
  done
  [ -z "$kpport" ] || launch "$dir" proxy-keystone swift-proxy-server "$dir/etc/proxy-keystone.conf" --verbose
  if ! wait_ready "$dir" "$pport" "$aport" "$cport" "$oport" "$pport"; then
    stop_server "$dir"
    exit 1
  fi
  if [ -n "$kport" ]; then
    local deadline=$((SECONDS + ${SWIFT_START_TIMEOUT:-120}))
    until curl -fsS -o /dev/null "http://127.0.0.1:$kport/v3" 2>/dev/null; do
      status_server "$dir" || { stop_server "$dir"; die "Keystone died during start-up"; }
      [ $SECONDS -lt $deadline ] || { stop_server "$dir"; die "Keystone not up after ${SWIFT_START_TIMEOUT:-120}s"; }
      sleep 0.3
    done
    until curl -fsS -o /dev/null "http://127.0.0.1:$kpport/healthcheck" 2>/dev/null; do
      status_server "$dir" || die "Keystone's proxy died during start-up; logs in $dir/log"
      [ $SECONDS -lt $deadline ] || die "Keystone's proxy not up after ${SWIFT_START_TIMEOUT:-120}s"
      sleep 0.1
    done
  fi
  trap - EXIT
  if [ -n "$watch" ]; then
    setsid bash "$(readlink -f "${BASH_SOURCE[0]}")" watch "$dir" "$watch" </dev/null >/dev/null 2>&1 &
    echo "$!" >"$dir/watchdog"
  fi
  cat >"$dir/env" <<EOF
SWIFT_STATE_DIR=$dir
SWIFT_STORAGE=$storage
SWIFT_PROXY_PORT=$pport
SWIFT_ACCOUNT_PORT=$aport
SWIFT_CONTAINER_PORT=$cport
SWIFT_OBJECT_PORT=$oport
SWIFT_MEMCACHED_PORT=$mport
SWIFT_AUTH_URL=http://127.0.0.1:$pport/auth/v1.0
SWIFT_STORAGE_URL=http://127.0.0.1:$pport/v1/AUTH_test
SWIFT_S3_ENDPOINT=http://127.0.0.1:$pport
SWIFT_ACCOUNT=AUTH_test
SWIFT_USER=test:tester
SWIFT_KEY=testing
SWIFT_TOKEN_LIFE=$TOKEN_LIFE
EOF
  if [ -n "$kport" ]; then
    local project app
    project="$(sed -n 's/^KEYSTONE_DEMO_PROJECT_ID=//p' "$dir/keystone/ids.env")"
    app="$(sed -n 's/^KEYSTONE_APP_CRED_ID=//p' "$dir/keystone/ids.env")"
    cat >>"$dir/env" <<EOF
SWIFT_KEYSTONE_URL=http://127.0.0.1:$kport/v3
SWIFT_KEYSTONE_PROXY_PORT=$kpport
SWIFT_KEYSTONE_STORAGE_URL=http://127.0.0.1:$kpport/v1/KEY_$project
SWIFT_KEYSTONE_APP_CRED_ID=$app
EOF
  fi
  cat "$dir/env"
}

cmd="${1:-}"
shift || true
case "$cmd" in
start) start_server "$@" ;;
stop) [ $# -eq 1 ] || die "usage: $0 stop DIR"; stop_server "$1" ;;
status) [ $# -eq 1 ] || die "usage: $0 status DIR"; status_server "$1" ;;
watch) [ $# -eq 2 ] || die "usage: $0 watch DIR PID"; watch_server "$1" "$2" ;;
*) die "usage: $0 start [--state-dir DIR] [--token-life S] [--workers N] [--log-level L] [--size SIZE] [--keystone] [--watch PID] | stop DIR | status DIR" ;;
esac
