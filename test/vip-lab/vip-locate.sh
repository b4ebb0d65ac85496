#!/usr/bin/env bash
# Who holds the VIP in a VIP lab (test/sandbox/vip-lab.ts): the locate command
# of a CommandVipProvider (activities/vip-command.ts).
#
#   vip-locate.sh <vip>
#
# Prints the lab address of the host whose eth0 carries <vip>/32, or nothing
# when no host does. Two holders at once is an error (exit 2).
#
# The lab describes itself in the environment:
#   DSW_LAB_VIP     the lab's VIP; any other address is refused
#   DSW_LAB_HOSTS   "netns=address netns=address …" (namespaces named dsw*)
set -euo pipefail

die() { echo "vip-locate: $*" >&2; exit "${2:-1}"; }

# dm-switch passes its values after "--" (activities/vip-command.ts)
[[ ${1:-} == -- ]] && shift
vip=${1:-}
[[ -n $vip ]] || die "usage: vip-locate.sh <vip>"
[[ -n ${DSW_LAB_VIP:-} && -n ${DSW_LAB_HOSTS:-} ]] || die "DSW_LAB_VIP and DSW_LAB_HOSTS must describe the lab"
[[ $vip == "$DSW_LAB_VIP" ]] || die "$vip is not this lab's VIP ($DSW_LAB_VIP)"

holders=()
for pair in $DSW_LAB_HOSTS; do
  ns=${pair%%=*} addr=${pair#*=}
  [[ $ns == dsw* && $ns != "$pair" ]] || die "bad DSW_LAB_HOSTS entry: $pair"
  addrs=$(ip -n "$ns" -4 -o addr show dev eth0)
  if [[ $addrs == *" inet $vip/32 "* ]]; then holders+=("$addr"); fi
done

case ${#holders[@]} in
  0) ;;
  1) echo "${holders[0]}" ;;
  *) die "$vip is on more than one host: ${holders[*]}" 2 ;;
esac
