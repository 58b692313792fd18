#!/usr/bin/env bash
# The test command of the README: installs what is missing, type-checks, runs every suite.
# The suites start their own stand-ins (TLS servers on 127.0.0.x, misbehaving peers, SQLite
# files, child processes, Pebble and pebble-challtestsrv on free loopback ports, an nginx with its
# own prefix, network namespaces with loopback only); the system packages they need, Debian's pebble and nginx, are installed here when
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pebble >/dev/null || ! command -v pebble-challtestsrv >/dev/null; then
  echo "== installing Debian's pebble (the ACME test CA the ACME suites start)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble
fi

if ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
  echo "== installing iproute2 and util-linux (the network namespaces of the dual-stack and no-route tests)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux
fi

if [ ! -x /usr/sbin/nginx ]; then
  echo "== installing Debian's nginx (the real web server the rotation load test reloads)"
  apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx  # RUNLEVEL=1: do not start the system service
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo "== type-check (tsc --noEmit)"
npx tsc --noEmit -p tsconfig.json

echo "== jest"
mkdir -p .certops
status=0
npx jest --ci --json --outputFile=.certops/jest-results.json "$@" || status=$?
node -e '
  const r = require("./.certops/jest-results.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
  if (r.numTotalTests === 0) process.exit(1);
' || status=1
exit $status
