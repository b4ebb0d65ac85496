#!/usr/bin/env bash
# Builds the `temporal` CLI (dev server with Web UI and SQLite persistence)
# from the Go module proxy, once, into the cache. Prints the binary's path.
# v1.5.1 is the last tag whose go.mod has no `replace`, so `go install` works.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-cached-build.sh"
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
dir="$cache/temporal-cli-$TEMPORAL_CLI_VERSION"
bin="$dir/bin/temporal"
built() { [[ -x "$bin" ]]; }
print_paths() { echo "$bin"; }
build() {
  (cd "$cache" && GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod go install \
    "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION")
}
go_cached_build temporal \
  "go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION (a few minutes, once)" \
  "to build the temporal CLI"
