#!/usr/bin/env bash
# Builds DM's binaries (dm-master, dm-worker, dmctl) from the Go module proxy,
# once, into ${DM_SWITCH_CACHE:-~/.cache/dm-switch}/dm-<tiflow version>/bin,
# and prints that directory on stdout. With --with-tidb it adds tidb-server
# (the TiDB version that tiflow's module graph selects) to the same directory.
#
# The versions are pinned by build/dm/go.mod (tiflow, and the replace
# directives repeated from tiflow's go.mod) and build/dm/go.sum, which was
# seeded from tiflow's and TiDB's go.sum: every module is checked against a
# known hash and no checksum-database lookup is needed. Downloads land in the
# usual module cache (GOMODCACHE), compiled packages in the usual build cache.
#
# Safe to run any number of times and from parallel callers: a lock
# serializes builds, and a stamp file (which records the hash of go.mod and
# go.sum) makes later runs return at once.
set -euo pipefail

usage() { echo "usage: $0 [--with-tidb]" >&2; exit 2; }
with_tidb=0
for arg in "$@"; do
  case "$arg" in
    --with-tidb) with_tidb=1 ;;
    -h|--help) usage ;;
    *) echo "build-dm.sh: unknown argument: $arg" >&2; usage ;;
  esac
done

log() { echo "build-dm.sh: $*" >&2; }

mod_dir="$(cd "$(dirname "$0")/../build/dm" && pwd)"
cache="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"

command -v go >/dev/null || { log "needs Go >= 1.25 (https://go.dev/doc/install) to build DM"; exit 1; }

# The pinned tiflow version, read from go.mod (no network needed).
version="$(awk '$1 == "github.com/pingcap/tiflow" && $2 ~ /^v/ { print $2; exit }' "$mod_dir/go.mod")"
[[ -n "$version" ]] || { log "no github.com/pingcap/tiflow requirement in $mod_dir/go.mod"; exit 1; }

# tiflow's Makefile stamps `git describe --tags` and the full commit hash into
# the binaries; the module cache has no git history, so they are written here
# for the pinned commit, and used only while go.mod pins that commit.
TIFLOW_COMMIT=0ea757eae77a5e7815bfb2211d117d6aa762e375
TIFLOW_DESCRIBE=v9.0.0-beta.2.pre-57-g0ea757eae7
commit="${version##*-}"
if [[ "$TIFLOW_COMMIT" == "$commit"* ]]; then
  release_version="$TIFLOW_DESCRIBE" commit="$TIFLOW_COMMIT"
else
  release_version="$version"
fi

dir="$cache/dm-$version"
bin="$dir/bin"
stamp="$dir/.stamp"
want="$(cat "$mod_dir/go.mod" "$mod_dir/go.sum" | sha256sum | cut -d' ' -f1)"

built() { # name...: true when the stamp is current and each binary is there
  [[ -f "$stamp" ]] && grep -qx "$want" "$stamp" || return 1
  local b
  for b in "$@"; do [[ -x "$bin/$b" ]] || return 1; done
}

targets=(dm-master dm-worker dmctl)
((with_tidb)) && targets+=(tidb-server)

if built "${targets[@]}"; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.dm-$version.lock"
flock 9
if built "${targets[@]}"; then echo "$bin"; exit 0; fi

# Binaries already built for this go.mod/go.sum (the stamp says so) are kept,
# e.g. DM's when --with-tidb comes later; anything else is built afresh.
if ! { [[ -f "$stamp" ]] && grep -qx "$want" "$stamp"; }; then
  [[ -d "$dir" ]] && log "no build of this go.mod/go.sum in $dir: building afresh"
  rm -rf "$dir"
fi
todo=()
for b in "${targets[@]}"; do [[ -x "$bin/$b" ]] || todo+=("$b"); done

build_ts="$(date -u '+%Y-%m-%d %H:%M:%S')"
go_build() { # ldflags package...: builds into $tmp, niced, as tiflow's Makefile
  # does on Linux (CGO off, -trimpath). No dm_webui tag: the web UI's built
  # assets are not in the module, so dm-master is built without the UI.
  local ldflags="$1"; shift
  (cd "$mod_dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly nice -n 19 \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$tmp/" "$@") >&2
}
x() { printf -- "-X '%s=%s' " "$1" "$2"; } # one -X flag, quoted for go

log "building ${todo[*]} into $bin"
log "a first build downloads ~450 MiB of modules (2.5 GiB unpacked) and compiles for ~10 minutes (3 GiB of build cache); later runs are instant"
start=$(date +%s)
tmp="$dir/bin.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$dir"/bin.tmp.*
mkdir -p "$tmp"

dm_pkgs=()
for b in "${todo[@]}"; do
  case "$b" in
    dm-master|dm-worker) dm_pkgs+=("github.com/pingcap/tiflow/cmd/$b") ;;
    dmctl) dm_pkgs+=("github.com/pingcap/tiflow/cmd/dm-ctl") ;;
  esac
done
if ((${#dm_pkgs[@]})); then
  log "DM: tiflow $version, reporting itself as $release_version"
  # The version stamps of tiflow's Makefile.
  go_build "$(x github.com/pingcap/tiflow/pkg/version.ReleaseVersion "$release_version")$(
    x github.com/pingcap/tiflow/pkg/version.GitHash "$commit")$(
    x github.com/pingcap/tiflow/pkg/version.GitBranch master)$(
    x github.com/pingcap/tiflow/pkg/version.BuildTS "$build_ts")$(
    x github.com/pingcap/tidb/pkg/parser/mysql.TiDBReleaseVersion "$release_version")" \
    "${dm_pkgs[@]}"
  if [[ -e "$tmp/dm-ctl" ]]; then mv "$tmp/dm-ctl" "$tmp/dmctl"; fi
fi
if [[ " ${todo[*]} " == *" tidb-server "* ]]; then
  # The version stamps of TiDB's Makefile, for the TiDB commit that tiflow
  # selects. TiDB's master carried the tag v9.0.0-beta.2.pre then; how many
  # commits past it is unknown here, so the release version leaves the count
  # out (it would otherwise read v8.4.0-this-is-a-placeholder).
  tidb_version="$(awk '$1 == "github.com/pingcap/tidb" && $2 ~ /^v/ { print $2; exit }' "$mod_dir/go.mod")"
  tidb_commit="${tidb_version##*-}"
  log "tidb-server: tidb $tidb_version, reporting itself as v9.0.0-beta.2.pre-g${tidb_commit:0:10}"
  go_build "$(x github.com/pingcap/tidb/pkg/parser/mysql.TiDBReleaseVersion "v9.0.0-beta.2.pre-g${tidb_commit:0:10}")$(
    x github.com/pingcap/tidb/pkg/util/versioninfo.TiDBGitHash "$tidb_commit")$(
    x github.com/pingcap/tidb/pkg/util/versioninfo.TiDBGitBranch master)$(
    x github.com/pingcap/tidb/pkg/util/versioninfo.TiDBBuildTS "$build_ts")" \
    github.com/pingcap/tidb/cmd/tidb-server
fi

mkdir -p "$bin"
for b in "${todo[@]}"; do mv -f "$tmp/$b" "$bin/$b"; done
echo "$want" > "$stamp"
log "built ${todo[*]} in $(( $(date +%s) - start ))s"
echo "$bin"
