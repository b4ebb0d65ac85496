#!/usr/bin/env bash
# Builds the Temporal *server* (the one a real cluster runs, not the CLI's
# dev server) and its SQL schema tool from the Go module proxy, once, into
# the cache, with the PostgreSQL schema files beside them. Prints the paths
# of the two binaries, one a line (server first, then temporal-sql-tool);
# the schema lives in <dir>/schema/postgresql/v12/{temporal,visibility}.
#
# v1.32.2 is the newest v1.32.x tag the proxy serves. Its go.mod has no
# `replace`, so `go install pkg@version` works; but it says `go 1.26.10`,
# newer than the machine's Go, so we ask for a toolchain the proxy serves
# (GOTOOLCHAIN=go1.27.3 unless the caller sets one); `go` downloads it
# through the module proxy on first use.
#   server:            go.temporal.io/server/cmd/server
#   temporal-sql-tool: go.temporal.io/server/cmd/tools/sql (binary named `sql`, renamed)
set -euo pipefail
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.32.2}"
export GOTOOLCHAIN="${GOTOOLCHAIN_TEMPORAL_SERVER:-go1.27.3}"
cache="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"
dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
server="$dir/bin/temporal-server"
sqltool="$dir/bin/temporal-sql-tool"
done_() { echo "$server"; echo "$sqltool"; exit 0; }
if [[ -x "$server" && -x "$sqltool" && -d "$dir/schema/postgresql/v12" ]]; then done_; fi
command -v go >/dev/null || { echo "build-temporal-server.sh: needs Go (https://go.dev/doc/install) to build the Temporal server" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.temporal-server.lock"
flock 9
if [[ -x "$server" && -x "$sqltool" && -d "$dir/schema/postgresql/v12" ]]; then done_; fi
echo "build-temporal-server.sh: go install go.temporal.io/server/cmd/{server,tools/sql}@$TEMPORAL_SERVER_VERSION with $GOTOOLCHAIN (10+ minutes, once)" >&2
start=$(date +%s)
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/bin"
(cd "$cache" && GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod go install \
  "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
  "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION") >&2
mv "$dir.tmp/bin/server" "$dir.tmp/bin/temporal-server"
mv "$dir.tmp/bin/sql" "$dir.tmp/bin/temporal-sql-tool"
# The schema files are in the module zip, now in the module cache.
moddir=$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "go.temporal.io/server@$TEMPORAL_SERVER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d "$moddir/schema/postgresql/v12" ]] || { echo "build-temporal-server.sh: no schema/postgresql/v12 in $moddir" >&2; exit 1; }
mkdir -p "$dir.tmp/schema/postgresql"
cp -r "$moddir/schema/postgresql/v12" "$dir.tmp/schema/postgresql/"
chmod -R u+w "$dir.tmp/schema"   # the module cache's files are read-only
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "build-temporal-server.sh: built in $(( $(date +%s) - start ))s" >&2
done_
