#!/usr/bin/env bash
# certops benchmark: `npm run bench` builds, then runs this. The peers are nmap's ssl-cert script
# (discovery) and lego (ACME issuance); the rotation-under-load section reloads a real nginx. All
# three are Debian packages, installed here when missing. The benchmark runs in the foreground
# (background processes on this kind of machine make progress only while a command runs).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nmap >/dev/null || (apt-get update && apt-get install -y nmap)
command -v lego >/dev/null || (apt-get update && apt-get install -y lego)
[ -x /usr/sbin/nginx ] || (apt-get update && RUNLEVEL=1 apt-get install -y nginx)
exec node_modules/.bin/tsx scripts/bench.ts
