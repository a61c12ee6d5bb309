#!/usr/bin/env bash
# tests/mpi_hosts/test_hosts.sh - simulated hosts for the multi-host tests of the
# mpi backend: network namespaces hpcdh1..N on this machine, each with its own
# loopback, a veth into the bridge hpcdbr0 on 10.213.57.0/24 (this host is
# 10.213.57.1, host i is 10.213.57.(10 + i)), and an /etc/hosts line per name.
# Each host gets its own host name (a UTS namespace) from rsh_agent.sh, the
# agent through which mpirun starts its daemons there. Root only.
#
#   test_hosts.sh up N      remove leftovers of an earlier run, then make N hosts
#                           (exit 77: namespaces cannot be made here, say why)
#   test_hosts.sh down      remove every namespace, link, bridge and /etc/hosts
#                           line this script makes (idempotent)
#   test_hosts.sh watch PID in the background: run `down` once PID has exited
#                           (after a killed test)
#   test_hosts.sh cut H     take host H off the network (its link goes down)
#   test_hosts.sh mend H    put it back
#   test_hosts.sh pids H    the processes running on host H, one a line
#
# Only names starting hpcdh / hpcdv / hpcdbr0 and addresses on the bridge's
# own subnet are touched.
set -u
PREFIX=hpcdh
BRIDGE=hpcdbr0
NET=10.213.57
MARK="# hpcd-test-hosts"
PATH=/usr/sbin:/sbin:/usr/bin:/bin:$PATH

die() { echo "test_hosts: $*" >&2; exit 1; }

our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}[0-9]+$"; }

down() {
	local ns p
	for ns in $(our_namespaces); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^hpcdv[0-9]+$"); do
		ip link del "$p" 2>/dev/null
	done
	ip link del "$BRIDGE" 2>/dev/null
	if grep -q -- "$MARK" /etc/hosts 2>/dev/null; then
		# Rewrite in place: /etc/hosts may be a bind mount that a rename cannot replace.
		local keep
		keep=$(grep -v -- "$MARK" /etc/hosts)
		printf '%s\n' "$keep" >/etc/hosts
	fi
	return 0
}

up() {
	local n=$1 i
	[ "$(id -u)" -eq 0 ] || { echo "not root"; exit 77; }
	command -v ip >/dev/null || { echo "no ip command (Debian: iproute2)"; exit 77; }
	command -v unshare >/dev/null || { echo "no unshare (Debian: util-linux)"; exit 77; }
	command -v setsid >/dev/null || { echo "no setsid (Debian: util-linux)"; exit 77; }
	down
	if ! ip netns add ${PREFIX}probe 2>/tmp/hpcd-netns-probe.$$; then
		echo "cannot make a network namespace: $(cat /tmp/hpcd-netns-probe.$$)"
		rm -f /tmp/hpcd-netns-probe.$$
		exit 77
	fi
	rm -f /tmp/hpcd-netns-probe.$$
	ip netns del ${PREFIX}probe
	# The subnet must be free: only addresses on a bridge of our own.
	if ip -4 route show | grep -q "^${NET}\."; then
		die "${NET}.0/24 is in use on this machine: $(ip -4 route show | grep "^${NET}\.")"
	fi
	trap 'down; exit 1' ERR
	set -e
	ip link add "$BRIDGE" type bridge
	ip addr add "${NET}.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	for i in $(seq 1 "$n"); do
		local ns=${PREFIX}$i
		ip netns add "$ns"
		ip link add "hpcdv$i" type veth peer name "hpcdv${i}p"
		ip link set "hpcdv${i}p" netns "$ns"
		ip link set "hpcdv$i" master "$BRIDGE"
		ip link set "hpcdv$i" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "${NET}.$((10 + i))/24" dev "hpcdv${i}p"
		ip -n "$ns" link set "hpcdv${i}p" up
		echo "${NET}.$((10 + i)) $ns $MARK" >>/etc/hosts
	done
	set +e
	trap - ERR
}

host_index() {
	case "$1" in
	${PREFIX}[0-9]*) echo "${1#"$PREFIX"}" ;;
	*) die "not a test host: $1" ;;
	esac
}

case "${1:-}" in
up) up "${2:-2}" ;;
down) down ;;
watch)
	pid=${2:?watch PID}
	while kill -0 "$pid" 2>/dev/null; do sleep 1; done
	down
	;;
cut) ip link set "hpcdv$(host_index "${2:?cut HOST}")" down ;;
mend) ip link set "hpcdv$(host_index "${2:?mend HOST}")" up ;;
pids) ip netns pids "${2:?pids HOST}" ;;
*) die "usage: test_hosts.sh up N | down | watch PID | cut HOST | mend HOST | pids HOST" ;;
esac
