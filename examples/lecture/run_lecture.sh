#!/usr/bin/env bash
# Bazel's wrapper of run_all.py: every lecture script on small sizes against a
# daemon of its own, from this test's runfiles (tests/python/env.sh); the
# pictures go to Bazel's undeclared outputs
# (bazel-testlogs/examples/lecture/lecture_test/test.outputs).
set -euo pipefail
source tests/python/env.sh
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$(mktemp -d /tmp/hpcd-lecture.XXXXXX)}
exec "$python" examples/lecture/run_all.py --out "$out" "$@"
