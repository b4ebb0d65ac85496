#!/usr/bin/env bash
# Builds (once) a minimal Debian root file system holding a database server,
# cached outside the clone so later runs and CI's clean clone reuse it.
#
#   scripts/rootfs.sh mysql     -> MySQL 9.7 from Debian sid
#   scripts/rootfs.sh mariadb   -> MariaDB 10.11 from Debian bookworm
#   scripts/rootfs.sh mariadb-11.8 -> MariaDB 11.8 from Debian trixie (the next MariaDB LTS era)
#
# Prints the root's path on stdout. The servers inside run without chroot,
# through the root's own dynamic loader (see test/sandbox/mysql.ts).
# Needs root (debootstrap, chroot, mount) and reaches only Debian's packages.
set -euo pipefail

flavor="${1:?usage: rootfs.sh mysql|mariadb|mariadb-11.8}"
cache="${DM_SWITCH_CACHE:-$HOME/.cache/dm-switch}"
# Bump ROOTFS_REV when the recipe below changes, so caches are rebuilt.
ROOTFS_REV=1
want_version=''
case "$flavor" in
  mysql)   suite=sid;      packages=(mysql-server-core mysql-client) ;;
  mariadb) suite=bookworm; packages=(mariadb-server-core mariadb-client-core) ;;
  mariadb-11.8) suite=trixie; packages=(mariadb-server-core mariadb-client-core); want_version='1:11.8.' ;;
  *) echo "rootfs.sh: unknown flavor '$flavor' (use mysql, mariadb or mariadb-11.8)" >&2; exit 2 ;;
esac
root="$cache/rootfs-$flavor-$suite-r$ROOTFS_REV"
stamp="$root/.dm-switch-ready"

log() { echo "rootfs.sh[$flavor]: $*" >&2; }

template="$root/var/lib/dm-switch-template"
if [[ -f "$stamp" && -f "$template/.ready" ]]; then echo "$root"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  log "building the $flavor sandbox needs root (debootstrap and chroot); run as root once, later runs use the cache at $root"
  exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/.rootfs-$flavor.lock"
flock 9

# An initialised, never-started data directory that each sandbox instance
# copies (a copy takes a fraction of a second; --initialize takes seconds).
# It holds no auto.cnf, so every copy gets its own server_uuid.
make_template() {
  local t="$root/var/lib/dm-switch-template"
  [[ -f "$t/.ready" ]] && return 0
  rm -rf "$t" "$t.tmp"
  case "$flavor" in
    mysql)
      "$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" \
        "$root/usr/sbin/mysqld" --no-defaults --basedir="$root/usr" --lc-messages-dir="$root/usr/share/mysql" \
        --datadir="$t.tmp" --user=root --initialize-insecure --innodb-redo-log-capacity=8M \
        --log-error="$cache/rootfs-$flavor-template.log" || {
        log "mysqld --initialize failed:"; tail -20 "$cache/rootfs-$flavor-template.log" >&2; return 1; }
      ;;
    mariadb | mariadb-11.8)
      mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
      chroot "$root" mariadb-install-db --no-defaults --force --user=root --datadir=/var/lib/dm-switch-template.tmp \
        --auth-root-authentication-method=normal --skip-test-db >"$cache/rootfs-$flavor-template.log" 2>&1 || {
        umount "$root/proc"; log "mariadb-install-db failed:"; tail -20 "$cache/rootfs-$flavor-template.log" >&2; return 1; }
      umount "$root/proc"
      ;;
  esac
  rm -f "$t.tmp/auto.cnf"
  mv "$t.tmp" "$t"
  touch "$t/.ready"
}

if [[ -f "$stamp" ]]; then make_template; echo "$root"; exit 0; fi

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

start=$(date +%s)
tmp="$root.tmp"
cleanup() { mountpoint -q "$tmp/proc" && umount "$tmp/proc" || true; }
trap cleanup EXIT
if mountpoint -q "$tmp/proc" 2>/dev/null; then umount "$tmp/proc"; fi
rm -rf "$tmp"
log "debootstrap --variant=minbase $suite (about a minute)"
debootstrap --variant=minbase "$suite" "$tmp" >"$cache/rootfs-$flavor.log" 2>&1 || {
  log "debootstrap failed; last lines of $cache/rootfs-$flavor.log:"; tail -20 "$cache/rootfs-$flavor.log" >&2; exit 1; }
mount -t proc proc "$tmp/proc"
log "apt-get install ${packages[*]}"
chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" \
  >>"$cache/rootfs-$flavor.log" 2>&1 || {
  log "apt-get install failed; last lines of $cache/rootfs-$flavor.log:"; tail -20 "$cache/rootfs-$flavor.log" >&2; exit 1; }
chroot "$tmp" apt-get clean >/dev/null 2>&1 || true
umount "$tmp/proc"
version=$(chroot "$tmp" dpkg-query -W -f '${Version}' "${packages[0]}")
if [[ -n "$want_version" && "$version" != "$want_version"* ]]; then
  log "Debian $suite installed ${packages[0]} $version, not the ${want_version#1:}x this flavor names"; exit 1
fi
rm -rf "$root"
mv "$tmp" "$root"
make_template
echo "$version" >"$stamp"
log "ready: ${packages[0]} $version in $(( $(date +%s) - start ))s at $root"
echo "$root"
