#!/usr/bin/env bash
# Build everything and run the main job end to end: the daemon on
# configs/hpcd.ini, a generated matrix and vector, `hpcrun matvec A.bin x.bin`
# on the default backend checked against the serial backend, the daemon down.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bazel build //...

N=${N:-2000}
work=$(mktemp -d /tmp/hpcd-quickstart.XXXXXX)
sock="$work/hpcd.sock"
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bin=bazel-bin
$bin/daemon/hpcd -c configs/hpcd.ini -s "$sock" 2>"$work/hpcd.log" &
daemon_pid=$!
for _ in $(seq 100); do
	$bin/cli/hpcrun -s "$sock" status >/dev/null 2>&1 && break
	sleep 0.1
done
$bin/cli/hpcrun -s "$sock" status
$bin/cli/hpcrun -s "$sock" backends

$bin/cli/hpcgen --seed 1 "$N" "$N" "$work/A.bin"
$bin/cli/hpcgen --seed 2 "$N" "$work/x.bin"
start=$(date +%s.%N)
$bin/cli/hpcrun -s "$sock" matvec "$work/A.bin" "$work/x.bin" >"$work/y.txt"
end=$(date +%s.%N)
$bin/cli/hpcrun -s "$sock" -b serial matvec "$work/A.bin" "$work/x.bin" >"$work/y_serial.txt"

# Each y_i sums N products of values in [-1, 1): both results lie within
# 2 * gamma_N * N of the exact one (gamma_N ~ N * 2^-53), far below 1e-9 here.
paste "$work/y.txt" "$work/y_serial.txt" | awk -v n="$N" '
	{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-9) bad++ ; rows++ }
	END {
		if (rows != n) { printf "quickstart: expected %d rows, got %d\n", n, rows; exit 1 }
		if (bad) { printf "quickstart: %d rows differ from serial\n", bad; exit 1 }
	}'
elapsed=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
echo "quickstart: matvec ${N}x${N} on the default backend matches serial (y[0] = $(head -1 "$work/y.txt")); hpcrun took ${elapsed} s"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=
[ ! -e "$sock" ] || { echo "quickstart: socket left behind" >&2; exit 1; }
echo "quickstart: daemon stopped cleanly"
