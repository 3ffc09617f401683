#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (real servers and real clients).
# Idempotent: only missing packages are installed. Needs root (or sudo) and Debian's archive.
set -euo pipefail

PACKAGES=(
  # Python zarr 2 / xarray interop (run as /usr/bin/python3)
  python3-zarr python3-xarray python3-numcodecs python3-numpy python3-fsspec python3-aiohttp python3-requests
  # fsspec reference file systems v1 (kerchunk templates) render with jinja2
  python3-jinja2
  # a real static HTTP server for HttpStore interop
  nginx-light
  # OpenStack Swift with its S3 API, the swift and aws CLIs, rclone
  swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached
  awscli python3-boto3 rclone xfsprogs
  # a real Keystone (SQLite) and the proxy middleware that accepts its tokens
  python3-keystone python3-keystonemiddleware
  # headless browser for the proxy's cross-origin test (driven by playwright-core)
  chromium
  # /usr/bin/time: peak RSS of zarrstore cp in the copy benchmark
  time
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
