#!/usr/bin/env bash
# bazel run //bench:python_bench [-- --quick | --socket S]: python_bench.py with
# Debian's python3, the package and the daemon from the runfiles.
set -euo pipefail
cd "${RUNFILES_DIR:-$0.runfiles}/hpcd"
export HPCD_BUILD=$PWD HPCD_LIBHPC=$PWD/libhpc/libhpc.so PYTHONPATH=$PWD/python
python=/usr/bin/python3
[ -x "$python" ] || python=python3
exec "$python" bench/python_bench.py "$@"
