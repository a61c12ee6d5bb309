#!/usr/bin/env bash
# Install hpcd (or, with --uninstall, remove exactly what an install wrote).
#
#   scripts/install.sh [--prefix PREFIX] [--destdir DIR] [--uninstall]
#                      [--bazel-bin DIR [--srcdir DIR]]
#
# Builds what is needed (bazel build -c opt) and lays out, under DESTDIR/PREFIX:
#
#   bin/hpcd bin/hpcrun bin/hpcgen
#   lib/hpcd/plugins/          every plugin libhpc_*.so of plugins/BUILD and its
#                              worker programs (hpc_*_worker), which each plugin
#                              finds next to its own file (with --bazel-bin:
#                              every one in DIR/plugins)
#   lib/libhpc.so.1            the client library (SONAME libhpc.so.1), the
#   lib/libhpc.so, lib/libhpc.a  link to it, and the static library
#   include/hpc/               the public headers
#   lib/pkgconfig/hpc.pc
#   lib/python3.X/dist-packages/hpcd/ (lib/python3/dist-packages for /usr)
#                              the Python package, when python/hpcd exists
#   etc/hpcd/hpcd.ini          the config, plugin_dir relative to its folder
#   share/man/man{1,3,5,8}/    the manual pages
#   lib/systemd/system/hpcd.service
#   lib/hpcd/install-manifest  what was written, for --uninstall
#
# The tree is relocatable: the config names its plugins relative to its own
# folder (../../lib/hpcd/plugins) and each plugin finds its worker next to
# itself, so DESTDIR/PREFIX/bin/hpcd -c DESTDIR/PREFIX/etc/hpcd/hpcd.ini works
# without a checkout and without any environment variable. Only hpcd.service
# and hpc.pc name PREFIX itself (as systemd and pkg-config need).
#
# Installing to the real system (no DESTDIR) as root also creates the system
# user hpcd that the service runs as (when missing), runs ldconfig and, when
# systemd runs, systemctl daemon-reload. It enables and starts nothing.
#
# --uninstall (same --prefix and --destdir) removes every file and link the
# manifest lists, if it is still what install wrote (a changed file, such as an
# edited config, is kept and named), then the folders install created, if
# empty, and the hpcd user if install created it.
#
# --bazel-bin DIR takes the built files from DIR (laid out as bazel-bin is)
# and builds nothing; --srcdir DIR takes the sources (headers, man pages,
# templates, python/) from DIR instead of this checkout. The install test runs
# the script on its runfiles tree this way, since Bazel cannot run in a test.
set -euo pipefail

prog=install.sh
die() {
	echo "$prog: $*" >&2
	exit 1
}
usage() {
	cat <<'EOF'
usage: scripts/install.sh [--prefix PREFIX] [--destdir DIR] [--uninstall]
                          [--bazel-bin DIR [--srcdir DIR]]

  --prefix PREFIX   where hpcd will live (default /usr/local)
  --destdir DIR     write the tree under DIR/PREFIX instead (staging, packaging);
                    also $DESTDIR
  --uninstall       remove what an install with the same --prefix/--destdir wrote
  --bazel-bin DIR   install the files already built in DIR; build nothing
  --srcdir DIR      the source tree (default: this checkout)
  -h, --help        this text
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=/usr/local
destdir=${DESTDIR:-}
uninstall=0
bazel_bin=
srcdir=$here
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--destdir) [ $# -ge 2 ] || die "--destdir needs a folder"; destdir=$2; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--uninstall) uninstall=1; shift ;;
	--bazel-bin) [ $# -ge 2 ] || die "--bazel-bin needs a folder"; bazel_bin=$2; shift 2 ;;
	--bazel-bin=*) bazel_bin=${1#*=}; shift ;;
	--srcdir) [ $# -ge 2 ] || die "--srcdir needs a folder"; srcdir=$2; shift 2 ;;
	--srcdir=*) srcdir=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

case $prefix in
/*) ;;
*) die "--prefix must be an absolute path, not '$prefix'" ;;
esac
# The manifest is tab-separated, one entry a line.
case "$prefix$destdir" in
*$'\t'* | *$'\n'*) die "paths with tabs or line breaks are not supported" ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
if [ -n "$destdir" ]; then
	if [ $uninstall -eq 1 ]; then
		[ -d "$destdir" ] || die "no hpcd installed under $destdir (no such folder)"
	else
		mkdir -p "$destdir"
	fi
	destdir=$(cd "$destdir" && pwd)
	[ "$destdir" != / ] || destdir=
fi

p() { # a path as installed -> where this run writes it
	printf '%s%s' "$destdir" "$1"
}
under() { # PREFIX/REL without a double slash for PREFIX=/
	if [ "$prefix" = / ]; then printf '/%s' "$1"; else printf '%s/%s' "$prefix" "$1"; fi
}

bindir=$(under bin)
libdir=$(under lib)
plugindir=$(under lib/hpcd/plugins)
includedir=$(under include/hpc)
pkgconfigdir=$(under lib/pkgconfig)
sysconfdir=$(under etc/hpcd)
mandir=$(under share/man)
unitdir=$(under lib/systemd/system)
manifest=$(under lib/hpcd/install-manifest)
# Debian's python3 reads /usr/lib/python3/dist-packages and, for /usr/local
# (where pip puts things), /usr/local/lib/python3.X/dist-packages; other
# prefixes need PYTHONPATH, which the end of the install prints.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)
if [ "$prefix" = /usr ]; then
	pythondir=$(under lib/python3/dist-packages)
elif [ -n "$python" ]; then
	pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	pythondir=$(under "lib/python$pyver/dist-packages")
else
	pythondir=$(under lib/python3/dist-packages)
fi
real_system=0
[ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && real_system=1
systemd_running=0
[ -z "$destdir" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null && systemd_running=1

# ---- the manifest ----------------------------------------------------------------
# Lines: "d PATH" a folder install created; "f SHA256 PATH" a file it wrote;
# "l TARGET PATH" a symbolic link; "u NAME" a system user it created. Paths
# are as installed (without DESTDIR). A reinstall keeps the earlier entries.
declare -A m_dir=() m_file=() m_link=() m_user=()
declare -a m_order=()

load_manifest() {
	local f
	f=$(p "$manifest")
	[ -f "$f" ] || return 0
	local kind a b
	while IFS=$'\t' read -r kind a b; do
		case $kind in
		d) [ -n "${m_dir[$a]+x}" ] || m_order+=("d$a"); m_dir[$a]=1 ;;
		f) [ -n "${m_file[$b]+x}" ] || m_order+=("f$b"); m_file[$b]=$a ;;
		l) [ -n "${m_link[$b]+x}" ] || m_order+=("l$b"); m_link[$b]=$a ;;
		u) m_user[$a]=1 ;;
		esac
	done <"$f"
}

write_manifest() {
	local f tmp e path
	f=$(p "$manifest")
	tmp="$f.tmp.$$"
	{
		printf '# hpcd install manifest: written by scripts/install.sh --prefix %s%s\n' \
			"$prefix" "${destdir:+ --destdir $destdir}"
		printf '# scripts/install.sh --uninstall with the same arguments removes exactly these.\n'
		for e in "${m_order[@]}"; do
			path=${e:1}
			case ${e:0:1} in
			d) printf 'd\t%s\n' "$path" ;;
			f) printf 'f\t%s\t%s\n' "${m_file[$path]}" "$path" ;;
			l) printf 'l\t%s\t%s\n' "${m_link[$path]}" "$path" ;;
			esac
		done
		for e in "${!m_user[@]}"; do printf 'u\t%s\n' "$e"; done
	} >"$tmp"
	mv -f "$tmp" "$f"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# Create folder $1 (as installed) and every missing parent; record the ones made.
make_dir() {
	local path=$1 parts=() d
	while [ "$path" != / ] && [ ! -d "$(p "$path")" ]; do
		parts=("$path" ${parts[@]+"${parts[@]}"})
		path=$(dirname "$path")
	done
	for d in ${parts[@]+"${parts[@]}"}; do
		mkdir -m 755 "$(p "$d")"
		[ -n "${m_dir[$d]+x}" ] || m_order+=("d$d")
		m_dir[$d]=1
	done
}

# install_file MODE SRC DEST: copy (following links), record with its checksum.
install_file() {
	local mode=$1 src=$2 dest=$3 tmp
	[ -f "$src" ] || die "missing $src (was it built?)"
	make_dir "$(dirname "$dest")"
	# Through a temporary name and a rename: a running daemon keeps its old file.
	tmp="$(p "$dest").tmp.$$"
	install -m "$mode" "$src" "$tmp"
	mv -f "$tmp" "$(p "$dest")"
	[ -n "${m_file[$dest]+x}" ] || m_order+=("f$dest")
	m_file[$dest]=$(sha "$(p "$dest")")
}

# A file made from a template: @NAME@ replaced by the values below.
install_template() {
	local mode=$1 src=$2 dest=$3 tmp
	tmp=$(mktemp)
	sed -e "s|@PREFIX@|$prefix|g" -e "s|@BINDIR@|$bindir|g" -e "s|@LIBDIR@|$libdir|g" \
		-e "s|@SYSCONFDIR@|$sysconfdir|g" -e "s|@VERSION@|$version|g" "$src" >"$tmp"
	install_file "$mode" "$tmp" "$dest"
	rm -f "$tmp"
}

install_link() {
	local target=$1 dest=$2
	make_dir "$(dirname "$dest")"
	ln -sfn "$target" "$(p "$dest")"
	[ -n "${m_link[$dest]+x}" ] || m_order+=("l$dest")
	m_link[$dest]=$target
}

# ---- uninstall -------------------------------------------------------------------

do_uninstall() {
	local mf
	mf=$(p "$manifest")
	[ -f "$mf" ] || die "no hpcd installed at $(p "$prefix") (no $mf)"
	load_manifest
	if [ $systemd_running -eq 1 ] && [ -n "${m_file[$unitdir/hpcd.service]+x}" ]; then
		if systemctl -q is-active hpcd.service || systemctl -q is-enabled hpcd.service 2>/dev/null; then
			echo "$prog: systemctl disable --now hpcd.service" >&2
			systemctl disable --now hpcd.service
		fi
	fi
	local e path kept=0
	for e in ${m_order[@]+"${m_order[@]}"}; do
		path=${e:1}
		case ${e:0:1} in
		f)
			if [ -f "$(p "$path")" ] && [ ! -L "$(p "$path")" ]; then
				if [ "$(sha "$(p "$path")")" = "${m_file[$path]}" ]; then
					rm -f "$(p "$path")"
				else
					echo "$prog: kept $(p "$path"): changed since it was installed" >&2
					kept=1
				fi
			fi
			# Bytecode Python wrote for a module this install put there.
			case $path in
			*.py)
				local base cache
				base=$(basename "$path" .py)
				cache="$(p "$(dirname "$path")")/__pycache__"
				rm -f "$cache/$base".*.pyc
				rmdir "$cache" 2>/dev/null || true
				;;
			esac
			;;
		l)
			if [ -L "$(p "$path")" ] && [ "$(readlink "$(p "$path")")" = "${m_link[$path]}" ]; then
				rm -f "$(p "$path")"
			fi
			;;
		esac
	done
	rm -f "$mf"
	# Deepest first: a folder's children sort after it.
	local dirs=()
	for e in ${m_order[@]+"${m_order[@]}"}; do
		[ "${e:0:1}" = d ] && dirs+=("${e:1}")
	done
	if [ ${#dirs[@]} -gt 0 ]; then
		while IFS= read -r path; do
			if [ -d "$(p "$path")" ] && ! rmdir "$(p "$path")" 2>/dev/null; then
				echo "$prog: kept $(p "$path"): not empty" >&2
				kept=1
			fi
		done < <(printf '%s\n' "${dirs[@]}" | sort -r)
	fi
	if [ -z "$destdir" ]; then
		[ $systemd_running -eq 1 ] && systemctl daemon-reload
		[ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null && ldconfig
		for e in "${!m_user[@]}"; do
			if getent passwd "$e" >/dev/null; then
				echo "$prog: userdel $e (the service's state in /var/lib/hpcd and /var/cache/hpcd, if any, is kept)" >&2
				userdel "$e"
			fi
		done
	fi
	if [ $kept -eq 1 ]; then
		echo "$prog: removed hpcd from $(p "$prefix"), except what is named above" >&2
	else
		echo "$prog: removed hpcd from $(p "$prefix")" >&2
	fi
}

if [ $uninstall -eq 1 ]; then
	do_uninstall
	exit 0
fi

# ---- build -----------------------------------------------------------------------

[ -f "$srcdir/daemon/version.h" ] || die "$srcdir is not an hpcd source tree"
version=$(sed -n 's/^#define HPCD_VERSION "\(.*\)"/\1/p' "$srcdir/daemon/version.h")
[ -n "$version" ] || die "cannot read HPCD_VERSION from $srcdir/daemon/version.h"

if [ -z "$bazel_bin" ]; then
	# Every plugin and worker program plugins/BUILD defines.
	mapfile -t plugins < <(sed -n 's/^ *name = "\(libhpc_[A-Za-z0-9_]*\.so\)",.*/\1/p' "$srcdir/plugins/BUILD")
	mapfile -t workers < <(sed -n 's/^ *name = "\(hpc_[A-Za-z0-9_]*_worker\)",.*/\1/p' "$srcdir/plugins/BUILD")
	[ ${#plugins[@]} -gt 0 ] || die "found no plugin in $srcdir/plugins/BUILD"
	targets=(//daemon:hpcd //cli:hpcrun //cli:hpcgen //libhpc:libhpc.so //dist:libhpc_static)
	for f in "${plugins[@]}" "${workers[@]}"; do targets+=("//plugins:$f"); done
	(cd "$srcdir" && bazel build -c opt "${targets[@]}") || die "the build failed"
	bazel_bin=$(cd "$srcdir" && bazel info -c opt bazel-bin 2>/dev/null)
else
	# What was built: every plugin and worker program in DIR/plugins.
	mapfile -t plugins < <(cd "$bazel_bin/plugins" 2>/dev/null && ls libhpc_*.so 2>/dev/null)
	mapfile -t workers < <(cd "$bazel_bin/plugins" 2>/dev/null && ls hpc_*_worker 2>/dev/null)
	[ ${#plugins[@]} -gt 0 ] || die "found no plugin libhpc_*.so in $bazel_bin/plugins"
fi
[ -d "$bazel_bin" ] || die "no built tree at $bazel_bin"

# ---- lay out ---------------------------------------------------------------------

for f in "$srcdir/dist/hpcd.ini" "$srcdir/dist/hpc.pc.in" "$srcdir/dist/hpcd.service.in"; do
	[ -f "$f" ] || die "missing $f"
done
compgen -G "$srcdir/man/*.[1-8]" >/dev/null || die "no manual pages in $srcdir/man"

load_manifest
# Whatever happens from here on, the manifest lists what was written, so that
# --uninstall can undo a half-finished install too.
make_dir "$(dirname "$manifest")"
trap write_manifest EXIT
[ -n "$destdir" ] && echo "$prog: installing into $destdir (prefix $prefix)" >&2 ||
	echo "$prog: installing into $prefix" >&2

install_file 755 "$bazel_bin/daemon/hpcd" "$bindir/hpcd"
install_file 755 "$bazel_bin/cli/hpcrun" "$bindir/hpcrun"
install_file 755 "$bazel_bin/cli/hpcgen" "$bindir/hpcgen"

for f in "${plugins[@]}"; do
	install_file 644 "$bazel_bin/plugins/$f" "$plugindir/$f"
done
for f in "${workers[@]}"; do
	install_file 755 "$bazel_bin/plugins/$f" "$plugindir/$f"
done

install_file 644 "$bazel_bin/libhpc/libhpc.so" "$libdir/libhpc.so.1"
install_link libhpc.so.1 "$libdir/libhpc.so"
install_file 644 "$bazel_bin/dist/libhpc.a" "$libdir/libhpc.a"
for f in "$srcdir"/include/hpc/*.h; do
	install_file 644 "$f" "$includedir/$(basename "$f")"
done
install_template 644 "$srcdir/dist/hpc.pc.in" "$pkgconfigdir/hpc.pc"

if [ -d "$srcdir/python/hpcd" ]; then
	while IFS= read -r f; do
		install_file 644 "$srcdir/python/hpcd/$f" "$pythondir/hpcd/$f"
	done < <(cd "$srcdir/python/hpcd" && find -L . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | sed 's|^\./||' | sort)
fi

# The config: an admin's edits survive a reinstall.
conf=$sysconfdir/hpcd.ini
if [ -f "$(p "$conf")" ] && ! cmp -s "$srcdir/dist/hpcd.ini" "$(p "$conf")" &&
	{ [ -z "${m_file[$conf]+x}" ] || [ "$(sha "$(p "$conf")")" != "${m_file[$conf]}" ]; }; then
	echo "$prog: kept your $(p "$conf"); the shipped one is $srcdir/dist/hpcd.ini" >&2
else
	install_file 644 "$srcdir/dist/hpcd.ini" "$conf"
fi

for f in "$srcdir"/man/*.[1-8]; do
	sec=${f##*.}
	install_file 644 "$f" "$mandir/man$sec/$(basename "$f")"
done
install_template 644 "$srcdir/dist/hpcd.service.in" "$unitdir/hpcd.service"
write_manifest

# ---- the real system -------------------------------------------------------------

if [ $real_system -eq 1 ]; then
	if ! getent passwd hpcd >/dev/null; then
		# Its home is the service's StateDirectory (ssh keys for mpi across hosts go there).
		useradd --system --user-group --home-dir /var/lib/hpcd --no-create-home \
			--shell /usr/sbin/nologin --comment "hpcd compute daemon" hpcd
		m_user[hpcd]=1
		write_manifest
		echo "$prog: created the system user hpcd" >&2
	fi
	command -v ldconfig >/dev/null && ldconfig
	[ $systemd_running -eq 1 ] && systemctl daemon-reload
fi

echo "$prog: installed hpcd $version into $(p "$prefix")" >&2
if [ $real_system -eq 1 ]; then
	case $unitdir in
	/usr/local/lib/systemd/system | /usr/lib/systemd/system | /lib/systemd/system) ;;
	*) echo "$prog: systemd does not look in $unitdir: systemctl link $unitdir/hpcd.service" >&2 ;;
	esac
	echo "$prog: start the service with: systemctl enable --now hpcd" >&2
	echo "$prog: clients connect with: HPCD_SOCKET=/run/hpcd/hpcd.sock hpcrun status" >&2
else
	echo "$prog: run it with: $(p "$bindir")/hpcd -c $(p "$conf") -s SOCKET" >&2
fi
case $prefix in
/usr | /usr/local) ;;
*) [ -d "$srcdir/python/hpcd" ] && echo "$prog: for Python: export PYTHONPATH=$(p "$pythondir")" >&2 ;;
esac
exit 0
