#!/usr/bin/env bash
# Builds the `temporal` CLI (dev server with Web UI and SQLite persistence)
# from the Go module proxy, once, into the cache. Prints the binary's path.
# v1.5.1 is the last tag whose go.mod has no `replace`, so `go install` works.
set -euo pipefail
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
cache="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"
dir="$cache/temporal-cli-$TEMPORAL_CLI_VERSION"
bin="$dir/bin/temporal"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "build-temporal.sh: needs Go (https://go.dev/doc/install) to build the temporal CLI" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.temporal.lock"
flock 9
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
echo "build-temporal.sh: go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION (a few minutes, once)" >&2
start=$(date +%s)
rm -rf "$dir.tmp"
(cd "$cache" && GOBIN="$dir.tmp/bin" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION") >&2
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "build-temporal.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
