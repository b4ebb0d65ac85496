#!/usr/bin/env bash
# Everything the tests and the local stack need that a fresh machine lacks,
# installed once and cached under ${DM_SWITCH_CACHE:-~/.cache/dm-switch} so
# the next run (and CI's clean clone on the same machine) skips it.
# Runs before `npm test` and `npm start`; safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."
export DM_SWITCH_CACHE="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"
mkdir -p "$DM_SWITCH_CACHE"
log() { echo "setup: $*" >&2; }
t0=$(date +%s)

# Node dependencies, if this clone has none yet, at the versions of
# package-lock.json. `npm install` rather than `npm ci`: lock files written
# with omit-lockfile-registry-resolved (no download addresses) lack other
# platforms' optional packages (@swc/core-darwin-*, …), which `npm ci`
# reports as "not in sync" although every package this platform needs is pinned.
if [[ ! -d node_modules/.bin ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm install (from package-lock.json)"
  npm install --no-audit --no-fund >&2
fi

# Debian tools the sandboxes use.
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
# gratuitous ARP in the VIP lab (test/sandbox/vip-lab.ts); iputils' arping, not Habets' (other options)
{ command -v arping >/dev/null && arping -V 2>&1 | grep -q iputils; } || missing+=(iputils-arping)
# the Web UI browser test (test/integration/web-ui-codec.test.ts): Debian's chromium, driven by playwright-core
command -v chromium >/dev/null || missing+=(chromium)
# PostgreSQL 15 for the Temporal cluster tests (test/sandbox/temporal-cluster.ts)
[[ -x "${DM_SWITCH_PG_BIN:-/usr/lib/postgresql/15/bin}/postgres" ]] || missing+=(postgresql-15)
command -v psql >/dev/null || missing+=(postgresql-client-15)
# a real Prometheus scraping the worker and a real Alertmanager driving the webhook (test/integration/alerting.test.ts)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then log "need ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"; exit 1; fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# In parallel: MySQL 9.7 (Debian sid), MariaDB 10.11 (Debian bookworm) and 11.8 (trixie)
# roots, and the Go builds (the temporal CLI, the Temporal server and its SQL
# schema tool for the cluster tests, DM's binaries, and Jaeger).
pids=()
scripts/rootfs.sh mysql >/dev/null & pids+=($!)
scripts/rootfs.sh mariadb >/dev/null & pids+=($!)
scripts/rootfs.sh mariadb-11.8 >/dev/null & pids+=($!)
scripts/build-temporal.sh >/dev/null & pids+=($!)
scripts/build-temporal-server.sh >/dev/null & pids+=($!)
scripts/build-dm.sh --with-tidb >/dev/null & pids+=($!)
# Jaeger, which the tracing test exports a switch's trace to and reads it back from
scripts/build-jaeger.sh >/dev/null & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done

log "ready in $(( $(date +%s) - t0 ))s (cache: $DM_SWITCH_CACHE)"
