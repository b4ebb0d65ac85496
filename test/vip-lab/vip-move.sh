#!/usr/bin/env bash
# Moves the VIP of a VIP lab (test/sandbox/vip-lab.ts) the way keepalived
# does: take the address off the old holder, put it on the new one, and
# announce it with gratuitous ARP so that neighbours' caches follow at once.
# The move command of a CommandVipProvider (activities/vip-command.ts).
#
#   vip-move.sh <vip> <from address or ''> <to address>
#
# Besides <from>, any other lab host found holding the VIP loses it too, so
# the VIP is never on two hosts once this returns 0.
#
# The lab describes itself in the environment:
#   DSW_LAB_VIP     the lab's VIP; any other address is refused
#   DSW_LAB_HOSTS   "netns=address netns=address …" (namespaces named dsw*)
#   DSW_LAB_MOVE_LOG optional: a file that gets one line per real move
set -euo pipefail

die() { echo "vip-move: $*" >&2; exit 1; }

# dm-switch passes its values after "--" (activities/vip-command.ts)
[[ ${1:-} == -- ]] && shift
[[ $# -eq 3 ]] || die "usage: vip-move.sh <vip> <from address or ''> <to address>"
vip=$1 from=$2 to=$3
[[ -n ${DSW_LAB_VIP:-} && -n ${DSW_LAB_HOSTS:-} ]] || die "DSW_LAB_VIP and DSW_LAB_HOSTS must describe the lab"
[[ $vip == "$DSW_LAB_VIP" ]] || die "$vip is not this lab's VIP ($DSW_LAB_VIP)"

declare -A ns_of=()
for pair in $DSW_LAB_HOSTS; do
  ns=${pair%%=*} addr=${pair#*=}
  [[ $ns == dsw* && $ns != "$pair" ]] || die "bad DSW_LAB_HOSTS entry: $pair"
  ns_of[$addr]=$ns
done
[[ -n ${ns_of[$to]:-} ]] || die "$to is not a host of this lab (${!ns_of[*]})"
[[ -z $from || -n ${ns_of[$from]:-} ]] || die "$from is not a host of this lab (${!ns_of[*]})"
target=${ns_of[$to]}

holds() { [[ $(ip -n "$1" -4 -o addr show dev eth0) == *" inet $vip/32 "* ]]; }

# 1. off the old holder (and off anyone else who has it)
for addr in "${!ns_of[@]}"; do
  ns=${ns_of[$addr]}
  [[ $ns == "$target" ]] && continue
  if holds "$ns"; then
    [[ $addr == "$from" ]] || echo "vip-move: $vip was also on $addr; removing it there" >&2
    ip -n "$ns" addr del "$vip/32" dev eth0
  fi
done

# 2. onto the new holder (DSW_LAB_MOVE_LOG, if set, records each real move)
if ! holds "$target"; then
  ip -n "$target" addr add "$vip/32" dev eth0
  [[ -z ${DSW_LAB_MOVE_LOG:-} ]] || echo "$(date -u +%FT%T.%3NZ) $from -> $to" >>"$DSW_LAB_MOVE_LOG"
fi

# 3. gratuitous ARP from the new holder (iputils arping, unsolicited mode)
ip netns exec "$target" arping -U -c 2 -w 3 -I eth0 -s "$vip" "$vip" >/dev/null
