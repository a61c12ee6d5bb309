# Sourced by the Bazel wrappers of the Python tests and the lecture
# (run_pytest.sh, examples/lecture/run_lecture.sh): Debian's python3 with its
# NumPy, the package from python/, and the daemon, plugins and libhpc.so from
# the test's runfiles. Sets $python.
export HPCD_BUILD=$PWD
export HPCD_LIBHPC=$PWD/libhpc/libhpc.so
export PYTHONPATH=$PWD/python
export PYTHONDONTWRITEBYTECODE=1
export MPLBACKEND=Agg
export HOME=${TEST_TMPDIR:-/tmp}
export MPLCONFIGDIR=${TEST_TMPDIR:-/tmp}/mpl
# A sanitizer build of libhpc.so needs its runtime loaded before Python's own
# allocations; Python's are not leaks worth reporting.
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
