# Sourced by the scripts/build-*.sh that build a Go program from the Go module
# proxy, once, into the cache (~/.cache/dm-switch, or $DM_SWITCH_CACHE):
# what they share around their own build steps. The caller sets `dir` (the
# finished build's directory in the cache, <name>-<version>) and defines
#   built        true when $dir holds a complete build,
#   print_paths  prints what the script prints (the binaries' paths),
#   build        builds into "$dir.tmp" (its output goes to stderr),
# then calls `go_cached_build LOCK WHAT NEEDS_GO_FOR`. With the build present it
# prints the paths at once; otherwise it takes the cache's lock
# ($cache/.LOCK.lock: one build at a time, a second caller waits and finds it
# built), builds into $dir.tmp and moves that to $dir only once complete, so an
# interrupted build never looks finished.

cache="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"

go_cached_build() {
  local lock="$1" what="$2" needs_go_for="${3:-}" me start
  me=$(basename "$0")
  if built; then print_paths; exit 0; fi
  if ! command -v go >/dev/null; then
    echo "$me: needs Go (https://go.dev/doc/install)${needs_go_for:+ $needs_go_for}" >&2
    exit 1
  fi
  mkdir -p "$cache"
  exec 9>"$cache/.$lock.lock"
  flock 9
  if built; then print_paths; exit 0; fi
  echo "$me: $what" >&2
  start=$(date +%s)
  rm -rf "$dir.tmp"
  build >&2
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "$me: built in $(( $(date +%s) - start ))s" >&2
  print_paths
}
