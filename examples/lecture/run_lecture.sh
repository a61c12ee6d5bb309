#!/usr/bin/env bash
# Bazel's wrapper of run_all.py: every lecture script on small sizes against a
# daemon of its own, from this test's runfiles; the pictures go to Bazel's
# undeclared outputs (bazel-testlogs/examples/lecture/lecture_test/test.outputs).
set -euo pipefail
export HPCD_BUILD=$PWD
export HPCD_LIBHPC=$PWD/libhpc/libhpc.so
export PYTHONPATH=$PWD/python
export PYTHONDONTWRITEBYTECODE=1
export MPLBACKEND=Agg
export HOME=${TEST_TMPDIR:-/tmp}
export MPLCONFIGDIR=${TEST_TMPDIR:-/tmp}/mpl
if readelf -d "$HPCD_LIBHPC" | grep -q 'NEEDED.*libasan'; then
	export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
	# (Later options win: Bazel's asan config asks for detect_leaks=1.) The
	# daemon's own leaks are the C end-to-end tests' business; the fixtures
	# start it without the preload, which its children (mpirun, PoCL's linker)
	# must not inherit.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$(mktemp -d /tmp/hpcd-lecture.XXXXXX)}
exec "$python" examples/lecture/run_all.py --out "$out" "$@"
