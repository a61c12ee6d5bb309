#!/usr/bin/env bash
# Install the Debian 12 packages that building and testing hpcd need, when
# any is missing. Idempotent: with everything present it only asks dpkg.
set -euo pipefail

PACKAGES=(
	bazel-bootstrap bazel-rules-java bazel-platforms  # the build (offline Bazel 4.2.3)
	gcc g++ libc6-dev                                 # C and the C++ test harness
	libgtest-dev                                      # GoogleTest
	libinih-dev                                       # the config parser
	libopenmpi-dev openmpi-bin                        # the mpi backend
	ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo  # the opencl backend, on PoCL
	libopenblas-dev                                   # the benchmark's reference
	gnuplot-nox                                       # the benchmark's plots
	python3-numpy                                     # tests: .npy files written by NumPy itself
	procps                                            # ps/pgrep for the orphan checks
	groff-base                                        # tests: the manual pages render (groff -man -ww)
	pkgconf                                           # tests: a program built with pkg-config against the install
	systemd                                           # tests: systemd-analyze verify of the unit (not booted in a container)
	clang clang-format                                # CI: the tree also builds with clang; the formatter's check
	python3-pytest                                    # the Python client's tests (tests/python)
	python3-matplotlib                                # the lecture scripts' pictures (examples/lecture)
	iproute2 util-linux                               # tests/mpi_hosts: ip netns, unshare, setsid
	python3-mpi4py                                    # bench: the lecture's mpi4py matvec
	prometheus                                        # tests: promtool checks `hpcrun metrics`
	libxml2-utils                                     # tests: xmllint checks the trace SVG
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
