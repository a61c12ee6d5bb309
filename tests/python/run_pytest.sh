#!/usr/bin/env bash
# Bazel's wrapper of the Python client's pytest suite (tests/python/env.sh
# sets up the interpreter and the runfiles).
#   run_pytest.sh [pytest arguments...]
set -euo pipefail
source tests/python/env.sh
exec "$python" -m pytest -p no:cacheprovider -q "$@"
