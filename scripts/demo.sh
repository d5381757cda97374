#!/usr/bin/env bash
# make demo: start tenantd on its defaults (127.0.0.1:8900, state in ./.tenantd), deploy a C and
# a Node.js function with PER_TENANT isolation, invoke each for two tenants, show the answers.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
STATE=.tenantd
mkdir -p "$STATE"

running() { [ -f "$STATE/tenantd.pid" ] && kill -0 "$(cat "$STATE/tenantd.pid")" 2>/dev/null; }

if running; then
  echo "demo: tenantd is already running (pid $(cat "$STATE/tenantd.pid")), reusing it"
else
  rm -f "$STATE/endpoint"
  nohup "$BUILD/tenantd" serve >"$STATE/tenantd.out" 2>"$STATE/tenantd.log" </dev/null &
  echo $! >"$STATE/tenantd.pid"
  for _ in $(seq 100); do
    [ -s "$STATE/endpoint" ] && break
    running || { cat "$STATE/tenantd.log"; echo "demo: tenantd did not start"; exit 1; }
    sleep 0.1
  done
  [ -s "$STATE/endpoint" ] || { echo "demo: tenantd did not start"; exit 1; }
  echo "demo: started tenantd (pid $(cat "$STATE/tenantd.pid")): $(cat "$STATE/tenantd.out")"
fi

TENANTD_BUILD_DIR="$PWD/$BUILD" node scripts/demo.mjs "$STATE"

cat <<EOT

tenantd keeps running at $(cat "$STATE/endpoint") (log: $STATE/tenantd.log).

Call it with the AWS CLI (credentials of the admin key are in $STATE/credentials):
  export AWS_SHARED_CREDENTIALS_FILE=\$PWD/$STATE/credentials AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url $(cat "$STATE/endpoint") lambda list-functions
  aws --endpoint-url $(cat "$STATE/endpoint") lambda invoke --function-name demo-isolation-c \\
      --tenant-id acme --payload '{}' /dev/stdout

Stop it with:
  kill \$(cat $STATE/tenantd.pid)
EOT
