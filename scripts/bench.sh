#!/usr/bin/env bash
# certops benchmark: `npm run bench` builds, then runs this. The peers are nmap's ssl-cert script
# (discovery) and lego (ACME issuance); the rotation-under-load section reloads a real nginx. All
# three are Debian packages, installed here when missing. The benchmark runs in the foreground
# (background processes on this kind of machine make progress only while a command runs).
# A refused run (a row that measured 0, a dead letter, a failed section) exits non-zero here and
# leaves bench-results.json and the README alone; an accepted one is written to bench-results.json
# and the README's table is regenerated from it (`npm run bench:table`).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nmap >/dev/null || (apt-get update && apt-get install -y nmap)
command -v lego >/dev/null || (apt-get update && apt-get install -y lego)
[ -x /usr/sbin/nginx ] || (apt-get update && RUNLEVEL=1 apt-get install -y nginx)
node_modules/.bin/tsx scripts/bench.ts
exec node_modules/.bin/tsx scripts/bench-table.ts
