#!/usr/bin/env bash
# Builds Jaeger (the v2 `jaeger` binary: an OpenTelemetry collector with
# Jaeger's storage and query extensions, able to run all-in-one with
# in-memory storage) from the Go module proxy, once, into the cache.
# Prints the binary's path. The tracing test (test/integration/tracing-e2e
# .test.ts) starts it on loopback and reads the switch's trace back through
# its query API.
#
# v1.75.0's go.mod has a `replace` (github.com/Shopify/sarama), so
# `go install pkg@version` refuses it; instead a throwaway module in the
# cache requires it as a tool (`go get -tool`), repeats that replace, and
# builds the tool. Jaeger's own go.mod lists its whole build list, so the
# module graph picks the same versions Jaeger was released with.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-cached-build.sh"
JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"
dir="$cache/jaeger-$JAEGER_VERSION"
bin="$dir/bin/jaeger"
pkg=github.com/jaegertracing/jaeger/cmd/jaeger
built() { [[ -x "$bin" ]]; }
print_paths() { echo "$bin"; }
build() {
  mkdir -p "$dir.tmp/src" "$dir.tmp/bin"
  (
    cd "$dir.tmp/src"
    export GOFLAGS=-mod=mod
    go mod init dm-switch.local/jaeger-build >/dev/null 2>&1
    go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
    go get -tool "$pkg@$JAEGER_VERSION"
    go build -trimpath -o "$dir.tmp/bin/jaeger" "$pkg"
  )
  rm -rf "$dir.tmp/src"
}
go_cached_build jaeger "go get -tool $pkg@$JAEGER_VERSION, go build (several minutes, once)"
