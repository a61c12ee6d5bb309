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

# Whether host i and this host reach each other over TCP: a connect to a closed
# port answered by a reset ("refused") both ways. Neighbour entries that failed
# while the link was down are flushed first.
reachable() {
	local i=$1 ns=${PREFIX}$1 err
	ip -n "$ns" neigh flush dev "hpcdv${i}p" 2>/dev/null
	ip neigh flush dev "$BRIDGE" to "${NET}.$((10 + i))" 2>/dev/null
	err=$(ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/${NET}.1/9" 2>&1)
	case "$err" in *refused*) ;; *) return 1 ;; esac
	err=$(timeout 2 bash -c "exec 3<>/dev/tcp/${NET}.$((10 + i))/9" 2>&1)
	case "$err" in *refused*) return 0 ;; *) return 1 ;; esac
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
mend)
	# Up, and wait until the kernel says so on both ends and the bridge forwards: carrier
	# changes reach the peer through linkwatch, up to a second later, and a connect() in
	# that second fails at once (orted: "unable to complete a TCP connection").
	i=$(host_index "${2:?mend HOST}")
	ip link set "hpcdv$i" up
	for _ in $(seq 1 100); do
		if ip -br link show dev "hpcdv$i" | awk '{print $2}' | grep -qx UP &&
			ip -n "${PREFIX}$i" -br link show dev "hpcdv${i}p" | awk '{print $2}' | grep -qx UP &&
			bridge link show dev "hpcdv$i" 2>/dev/null | grep -q "state forwarding" &&
			reachable "$i"; then
			exit 0
		fi
		sleep 0.1
	done
	die "hpcdv$i did not come back within 10 s"
	;;
pids) ip netns pids "${2:?pids HOST}" ;;
*) die "usage: test_hosts.sh up N | down | watch PID | cut HOST | mend HOST | pids HOST" ;;
esac
