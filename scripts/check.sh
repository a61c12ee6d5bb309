#!/usr/bin/env bash
# The habits CI enforces beyond the tests: the tree builds warning-free with
# clang as well as gcc (own output tree, --config=clang), and every C, C++ and
# header file is formatted as .clang-format says (clang-format --dry-run
# -Werror, so it changes nothing and names each file that differs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bazel build --config=clang //...
git ls-files -z '*.c' '*.h' '*.cc' ':!:third_party/**' ':!:tests/plugins/abi1/**' |
	xargs -0 clang-format --dry-run -Werror
echo "check: clang build and formatting clean"
