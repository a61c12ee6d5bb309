#!/usr/bin/env bash
# See man_test.py. Debian's python3 and groff (scripts/setup.sh installs both).
set -euo pipefail
command -v groff >/dev/null || { echo "man_test: groff is not installed (scripts/setup.sh installs groff-base)" >&2; exit 1; }
exec /usr/bin/python3 tests/install/man_test.py
