#!/usr/bin/env bash
# tests/mpi_hosts/rsh_agent.sh HOST CMD... - what ssh is to mpirun on a cluster,
# for the simulated hosts of test_hosts.sh (--mca plm_rsh_agent): runs CMD in
# HOST's network namespace with HOST as its host name (a UTS namespace of its
# own) and, like a command sshd starts, in a session of its own, so that
# signals to mpirun's process group do not reach it.
#
# HPC_TEST_HOSTS_SAME_NAME=1 in the environment keeps this machine's host name
# in the namespace: another host that happens to have the same name.
host=$1
shift
name="hostname $host;"
[ "${HPC_TEST_HOSTS_SAME_NAME:-0}" = 1 ] && name=""
exec /usr/sbin/ip netns exec "$host" /usr/bin/unshare --uts /usr/bin/setsid -w \
	/bin/sh -c "$name $*"
