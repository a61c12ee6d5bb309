#!/usr/bin/env bash
# Run the whole test suite: unit tests and end-to-end tests with the real
# daemon, plugins and clients. Extra arguments go to `bazel test`, e.g.
#   scripts/test.sh --config=asan
#   scripts/test.sh --config=tsan --test_tag_filters=-no_tsan
# Ends with one line "tests: N passed, M failed" counting Bazel's test targets.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# libgomp is not built with ThreadSanitizer: its internal synchronisation is
# invisible to TSan, so reports from inside it are false positives.
tsan_opts="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
log=$(mktemp /tmp/hpcd-test.XXXXXX)
trap 'rm -f "$log"' EXIT
rc=0
bazel test //... --test_env=TSAN_OPTIONS="$tsan_opts" "$@" 2>&1 | tee "$log" || rc=$?
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log" || true)
echo "tests: $passed passed, $failed failed"
exit "$rc"
