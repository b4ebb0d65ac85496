#!/usr/bin/env bash
# Whether the VIP of a VIP lab (test/sandbox/vip-lab.ts) could be moved to a
# host, without moving it: the check command of a CommandVipProvider
# (activities/vip-command.ts), used when a switch chooses among candidates.
#
#   vip-check.sh <vip> <to address>
#
# Exit 0: <to> is a host of this lab, so vip-move.sh can put the VIP on it.
# Exit 1 with the reason on stderr: it is not (another network).
#
# The lab describes itself in the environment:
#   DSW_LAB_VIP     the lab's VIP; any other address is refused
#   DSW_LAB_HOSTS   "netns=address netns=address …" (namespaces named dsw*)
set -euo pipefail

die() { echo "vip-check: $*" >&2; exit 2; }

# dm-switch passes its values after "--" (activities/vip-command.ts)
[[ ${1:-} == -- ]] && shift
[[ $# -eq 2 ]] || die "usage: vip-check.sh <vip> <to address>"
vip=$1 to=$2
[[ -n ${DSW_LAB_VIP:-} && -n ${DSW_LAB_HOSTS:-} ]] || die "DSW_LAB_VIP and DSW_LAB_HOSTS must describe the lab"
[[ $vip == "$DSW_LAB_VIP" ]] || die "$vip is not this lab's VIP ($DSW_LAB_VIP)"

hosts=()
for pair in $DSW_LAB_HOSTS; do
  ns=${pair%%=*} addr=${pair#*=}
  [[ $ns == dsw* && $ns != "$pair" ]] || die "bad DSW_LAB_HOSTS entry: $pair"
  [[ $addr == "$to" ]] && exit 0
  hosts+=("$addr")
done
echo "$to is not on the VIP's network (this lab's hosts: ${hosts[*]})" >&2
exit 1
