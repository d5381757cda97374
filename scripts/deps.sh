#!/usr/bin/env bash
# Install what tenantd needs to build, test and run: Debian packages (only those missing) and
# the npm packages of package-lock.json (only when the lock file changed). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libuv1-dev libjansson-dev libssl-dev libsqlite3-dev libzip-dev
  libcurl4-openssl-dev libcmocka-dev libgmp-dev libseccomp-dev libcap-dev liburiparser-dev libxml2-dev zlib1g-dev
  libsodium-dev
  autoconf automake libtool g++ make
  wrk nginx-light node-llhttp strace
  nodejs
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v npm >/dev/null || { echo "deps: npm is missing; installing Debian's npm"; apt-get install -y -qq --no-install-recommends npm; }

# npm ci rebuilds aws-lambda-ric's native addon (about 75 s), so only when the lock changed.
stamp=node_modules/.tenantd-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f node_modules/aws-lambda-ric/dist/rapid-client.node ]; then
  echo "deps: npm ci (test clients and aws-lambda-ric)"
  npm ci --no-audit --no-fund --foreground-scripts >/tmp/tenantd-npm-ci.log 2>&1 || {
    tail -50 /tmp/tenantd-npm-ci.log; echo "deps: npm ci failed"; exit 1; }
  echo "$want" > "$stamp"
fi
