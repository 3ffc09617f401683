#!/usr/bin/env bash
# A single-node OpenStack Swift (Debian's packages) on 127.0.0.1 for tests and benchmarks:
# account, container, object and proxy servers plus memcached, with the s3api, tempauth and
# tempurl middleware, on free ports. Facts behind the choices: ../../shared/notes/swift.md.
#
#   scripts/swift-server.sh start [--state-dir DIR] [--token-life SECONDS] [--workers N]
#                                 [--log-level LEVEL] [--size SIZE]
#       Starts the servers, waits until a PUT/GET/DELETE works, prints KEY=VALUE lines
#       (also written to DIR/env, sourceable) and exits; the servers keep running.
#   scripts/swift-server.sh stop DIR      Stops every recorded PID, unmounts, removes DIR.
#   scripts/swift-server.sh status DIR    Exit 0 when every recorded PID is alive.
#
# Users (tempauth; the same pairs are S3 access key / secret, region us-east-1, path style):
#   test:tester / testing     admin of AUTH_test
#   test:tester3 / testing3   member of AUTH_test without rights (403 on private containers)
#   test2:tester2 / testing2  admin of AUTH_test2
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
  local dir="$1" etc="$2" mport="$3" aport="$4" cport="$5" oport="$6" pport="$7"
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
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pport
swift_dir = $etc
user = $user
workers = $WORKERS
log_level = $LOG_LEVEL

[pipeline:main]
# s3api sits right before tempauth and before slo (see notes/swift.md).
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit crossdomain formpost s3api tempauth staticweb copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

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
  local dir="" size="4g"
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
    *) die "unknown option $1" ;;
    esac
  done
  ensure_packages
  command -v curl >/dev/null || die "curl is needed"
  [ -n "$dir" ] || dir="$(mktemp -d /tmp/zarrstore-swift.XXXXXX)"
  mkdir -p "$dir/etc" "$dir/log" "$dir/run"
  dir="$(cd "$dir" && pwd)"
  : >"$dir/pids"
  # On any failure below, leave nothing running.
  trap 'stop_server "$dir"' ERR
  local storage
  storage="$(prepare_storage "$dir/srv" "$size")"
  read -r mport aport cport oport pport <<<"$(free_ports 5)"
  build_rings "$dir/etc" "$aport" "$cport" "$oport"
  write_configs "$dir" "$dir/etc" "$mport" "$aport" "$cport" "$oport" "$pport"

  local mc=(memcached -l 127.0.0.1 -p "$mport" -U 0 -m 64)
  [ "$(id -u)" -eq 0 ] && mc+=(-u root)
  launch "$dir" memcached "${mc[@]}"
  for kind in account container object proxy; do
    launch "$dir" "$kind" "swift-$kind-server" "$dir/etc/$kind-server.conf" --verbose
  done
  if ! wait_ready "$dir" "$pport" "$aport" "$cport" "$oport" "$pport"; then
    stop_server "$dir"
    exit 1
  fi
  trap - ERR
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
  cat "$dir/env"
}

cmd="${1:-}"
shift || true
case "$cmd" in
start) start_server "$@" ;;
stop) [ $# -eq 1 ] || die "usage: $0 stop DIR"; stop_server "$1" ;;
status) [ $# -eq 1 ] || die "usage: $0 status DIR"; status_server "$1" ;;
*) die "usage: $0 start [--state-dir DIR] [--token-life S] [--workers N] [--log-level L] [--size SIZE] | stop DIR | status DIR" ;;
esac
