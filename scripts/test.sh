#!/usr/bin/env bash
# Run the whole test suite: unit tests and end-to-end tests with the real
# daemon, plugins and clients. Extra arguments go to `bazel test`, e.g.
#   scripts/test.sh --config=asan
#   scripts/test.sh --config=tsan --test_tag_filters=threads
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# libgomp is not built with ThreadSanitizer: its internal synchronisation is
# invisible to TSan, so reports from inside it are false positives.
tsan_opts="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
bazel test //... --test_env=TSAN_OPTIONS="$tsan_opts" "$@"
