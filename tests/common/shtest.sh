# tests/common/shtest.sh - what the shell tests share. Source it with the
# test's name, after `set -euo pipefail`:
#
#   . tests/common/shtest.sh so_test
#
# It makes $tmp (removed at exit), stops the daemon whose pid is in $daemon
# at exit, defines fail MESSAGE (prints it with every non-empty $tmp/*.log,
# exits 1), and sets san to the gcc flags a program linked with a sanitizer
# build of libhpc.so needs (the sanitizer's runtime first), else to ().
# shellcheck shell=bash

shtest_name=$1
tmp=$(mktemp -d "/tmp/hpcd-$shtest_name.XXXXXX")
daemon=
shtest_cleanup() {
	if [ -n "$daemon" ]; then
		kill "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap shtest_cleanup EXIT
fail() {
	echo "$shtest_name: FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		[ -s "$f" ] && sed "s|^|$(basename "$f"): |" "$f" >&2
	done
	exit 1
}
san=()
if readelf -d "$PWD/libhpc/libhpc.so" 2>/dev/null | grep 'NEEDED.*libasan' >/dev/null; then
	# shellcheck disable=SC2034,SC2054 # one gcc flag, used by the test
	san=(-fsanitize=address,undefined)
fi
