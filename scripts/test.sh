#!/usr/bin/env bash
# The test command of the README: installs what is missing, type-checks, runs every suite.
# The suites start their own stand-ins (TLS servers on 127.0.0.x, misbehaving peers, SQLite
# files, child processes); they need no system service and nothing beyond Node's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

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
