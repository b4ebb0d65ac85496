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
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-cached-build.sh"
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.32.2}"
export GOTOOLCHAIN="${GOTOOLCHAIN_TEMPORAL_SERVER:-go1.27.3}"
dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
server="$dir/bin/temporal-server"
sqltool="$dir/bin/temporal-sql-tool"
built() { [[ -x "$server" && -x "$sqltool" && -d "$dir/schema/postgresql/v12" ]]; }
print_paths() { echo "$server"; echo "$sqltool"; }
build() {
  mkdir -p "$dir.tmp/bin"
  (cd "$cache" && GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod go install \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION")
  mv "$dir.tmp/bin/server" "$dir.tmp/bin/temporal-server"
  mv "$dir.tmp/bin/sql" "$dir.tmp/bin/temporal-sql-tool"
  # The schema files are in the module zip, now in the module cache.
  local moddir
  moddir=$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "go.temporal.io/server@$TEMPORAL_SERVER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [[ ! -d "$moddir/schema/postgresql/v12" ]]; then
    echo "build-temporal-server.sh: no schema/postgresql/v12 in $moddir" >&2
    exit 1
  fi
  mkdir -p "$dir.tmp/schema/postgresql"
  cp -r "$moddir/schema/postgresql/v12" "$dir.tmp/schema/postgresql/"
  chmod -R u+w "$dir.tmp/schema"   # the module cache's files are read-only
}
what="go install go.temporal.io/server/cmd/{server,tools/sql}@$TEMPORAL_SERVER_VERSION"
go_cached_build temporal-server "$what with $GOTOOLCHAIN (10+ minutes, once)" "to build the Temporal server"
