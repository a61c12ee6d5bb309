#!/usr/bin/env bash
# tests/mpi_hosts/rsh_agent.sh HOST CMD... - what ssh is to mpirun on a cluster,
# for the simulated hosts of test_hosts.sh (--mca plm_rsh_agent): runs CMD in
# HOST's network namespace with HOST as its host name (a UTS namespace of its
# own) and, like a command sshd starts, in a session of its own, so that
# signals to mpirun's process group do not reach it.
host=$1
shift
exec /usr/sbin/ip netns exec "$host" /usr/bin/unshare --uts /usr/bin/setsid -w \
	/bin/sh -c "hostname $host; $*"
