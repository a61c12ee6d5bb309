#!/usr/bin/env bash
# scripts/install.sh end to end, on what this test's data dependencies built
# (the runfiles tree, laid out as bazel-bin and the sources are):
#
#  1. install into a temporary DESTDIR that already holds files of others;
#     the layout, the SONAME and the link, no path into the build;
#  2. the installed daemon on the installed config, from / with an empty
#     environment: hpcrun status, backends, matvec on three backends, reload;
#     the forkpool workers are the installed ones; the same tree copied
#     elsewhere still finds its plugins;
#  3. every plugin (mpi with its worker, opencl on PoCL) opens from the
#     installed plugin folder;
#  4. a C program built with pkg-config --cflags --libs hpc (shared, and
#     static with libhpc.a) runs jobs;
#  5. the Python client, when python/hpcd exists, from the DESTDIR alone;
#  6. man finds the installed pages; systemd-analyze verify accepts the unit;
#  7. uninstall leaves exactly what was there before; a reinstall is
#     idempotent and keeps an edited config, which uninstall keeps too.
set -euo pipefail

root=$PWD
. tests/common/shtest.sh install_test
dd=$tmp/destdir
prefix=/usr/local
P=$dd$prefix
sock=$tmp/hpcd.sock
step() {
	echo "install_test: $*"
}
# grep -q on a pipe would end the writer early (SIGPIPE), which pipefail reports.
has() { # has PATTERN TEXT
	grep -q -- "$1" <<<"$2"
}
install_sh() {
	scripts/install.sh --prefix "$prefix" --destdir "$dd" --bazel-bin "$root" --srcdir "$root" "$@"
}


# python/hpcd of the checkout must be in this test's data, or the Python step
# would be skipped without anyone noticing.
checkout=$(dirname "$(dirname "$(readlink -f scripts/install.sh)")")
if [ -d "$checkout/python/hpcd" ] && [ ! -d python/hpcd ]; then
	fail "$checkout/python/hpcd exists but is not in the runfiles: is //python:hpcd still its filegroup?"
fi

# ---- 1. install --------------------------------------------------------------------

mkdir -p "$P/bin" "$P/share/man/man1"
echo "someone else's" >"$P/bin/other-tool"
echo "someone else's" >"$P/share/man/man1/other.1"
before=$(cd "$dd" && find . | sort)

step "install into $dd"
install_sh 2>"$tmp/install.log" || fail "install.sh failed"

for f in bin/hpcd bin/hpcrun bin/hpcgen lib/libhpc.so.1 lib/libhpc.a \
	include/hpc/client.h include/hpc/ops.h include/hpc/plugin.h include/hpc/types.h include/hpc/wire.h \
	lib/pkgconfig/hpc.pc etc/hpcd/hpcd.ini lib/systemd/system/hpcd.service \
	share/man/man8/hpcd.8 share/man/man5/hpcd.ini.5 share/man/man1/hpcrun.1 \
	share/man/man1/hpcgen.1 share/man/man3/libhpc.3 lib/hpcd/install-manifest; do
	[ -f "$P/$f" ] || fail "$P/$f was not installed"
done
for f in bin/hpcd bin/hpcrun bin/hpcgen; do
	[ -x "$P/$f" ] || fail "$P/$f is not executable"
done
# Every plugin and worker of plugins/BUILD (read in the checkout: Bazel keeps
# that file out of the runfiles) is in this test's data, and installed.
plugins=$(sed -n 's/^ *name = "\(libhpc_[a-z0-9_]*\.so\)",.*/\1/p' "$checkout/plugins/BUILD")
workers=$(sed -n 's/^ *name = "\(hpc_[a-z0-9_]*_worker\)",.*/\1/p' "$checkout/plugins/BUILD")
for p in serial openmp forkpool mpi opencl; do
	has "^libhpc_$p.so\$" "$plugins" || fail "plugins/BUILD has no libhpc_$p.so"
done
for f in $plugins $workers; do
	[ -e "plugins/$f" ] || fail "plugins/BUILD builds $f, which is not in this test's data (tests/install/BUILD)"
done
for f in $plugins; do
	[ -f "$P/lib/hpcd/plugins/$f" ] || fail "plugin $f was not installed"
done
for f in hpc_forkpool_worker hpc_mpi_worker $workers; do
	[ -x "$P/lib/hpcd/plugins/$f" ] || fail "worker $f was not installed next to the plugins"
done
[ "$(readlink "$P/lib/libhpc.so")" = libhpc.so.1 ] || fail "lib/libhpc.so is not a link to libhpc.so.1"
soname=$(readelf -d "$P/lib/libhpc.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libhpc.so.1 ] || fail "the SONAME of libhpc.so.1 is '$soname'"
has ' T hpc_connect@@HPC_1.0$' "$(nm -D --defined-only "$P/lib/libhpc.so.1")" ||
	fail "libhpc.so.1 does not export hpc_connect@@HPC_1.0"
has ' T hpci_ring_' "$(nm "$P/lib/libhpc.a" 2>/dev/null)" ||
	fail "libhpc.a lacks the ipc layer it needs"
# Nothing installed may point back into the build.
if grep -rl -e "$root" -e bazel-bin "$P/etc" "$P/lib/pkgconfig" "$P/lib/systemd" "$P/share"; then
	fail "installed files name the build tree"
fi
grep -q '^plugin_dir = \.\./\.\./lib/hpcd/plugins' "$P/etc/hpcd/hpcd.ini" ||
	fail "the installed config's plugin_dir is not relative to it"

# ---- 2. the installed daemon -------------------------------------------------------------

step "start $P/bin/hpcd on the installed config"
(cd / && exec env -i PATH=/usr/bin:/bin ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
	${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} \
	"$P/bin/hpcd" -c "$P/etc/hpcd/hpcd.ini" -s "$sock") 2>"$tmp/hpcd.log" &
daemon=$!
hpcrun() {
	(cd / && env -u HPCD_SOCKET "$P/bin/hpcrun" -s "$sock" "$@")
}
up=0
for _ in $(seq 100); do
	if hpcrun status >/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$daemon" 2>/dev/null || fail "the installed hpcd exited"
	sleep 0.1
done
[ $up -eq 1 ] || fail "the installed hpcd did not answer"
hpcrun status >"$tmp/status.txt" || fail "hpcrun status failed"
hpcrun backends >"$tmp/backends.txt" || fail "hpcrun backends failed"
for p in serial openmp forkpool; do
	grep -q "file=$P/lib/hpcd/plugins/libhpc_$p.so" "$tmp/backends.txt" ||
		fail "no backend runs the installed libhpc_$p.so: $(cat "$tmp/backends.txt")"
done
grep -q "workers ($P/lib/hpcd/plugins/hpc_forkpool_worker)" "$tmp/hpcd.log" ||
	fail "the forkpool backend does not run the installed worker"
! grep -q "built into the plugin" "$tmp/hpcd.log" || fail "forkpool fell back to its built-in worker"

"$P/bin/hpcgen" --seed 1 300 200 "$tmp/A.bin"
"$P/bin/hpcgen" --seed 2 200 "$tmp/x.bin"
hpcrun -b serial matvec "$tmp/A.bin" "$tmp/x.bin" >"$tmp/y_serial.txt" || fail "matvec on serial"
for b in omp pool; do
	hpcrun -b "$b" matvec "$tmp/A.bin" "$tmp/x.bin" >"$tmp/y_$b.txt" || fail "matvec on $b"
	# Each y_i sums 200 products of values in [-1, 1): the backends agree far below 1e-12.
	paste "$tmp/y_$b.txt" "$tmp/y_serial.txt" | awk '
		{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-12) bad++; rows++ }
		END { exit !(rows == 300 && !bad) }' || fail "matvec on $b differs from serial"
done
hpcrun reload >/dev/null || fail "hpcrun reload of the installed config failed"

# The tree does not depend on where it lies.
cp -a "$P" "$tmp/moved"
(cd / && "$tmp/moved/bin/hpcd" -c "$tmp/moved/etc/hpcd/hpcd.ini" --check) >"$tmp/moved.txt" 2>/dev/null ||
	fail "a copy of the installed tree elsewhere does not start"
grep -q "file=$tmp/moved/lib/hpcd/plugins/libhpc_openmp.so" "$tmp/moved.txt" ||
	fail "the moved tree loads plugins from elsewhere: $(cat "$tmp/moved.txt")"
rm -rf "$tmp/moved"

# ---- 3. every plugin from the installed folder ---------------------------------------------

step "open every plugin from $P/lib/hpcd/plugins"
mpiargs=--oversubscribe
[ "$(id -u)" -ne 0 ] || mpiargs="--allow-run-as-root --oversubscribe"
{
	echo "[daemon]"
	echo "socket = $tmp/unused.sock"
	echo "plugin_dir = $P/lib/hpcd/plugins"
	for f in $plugins; do
		p=${f#libhpc_}
		p=${p%.so}
		echo "[backend $p]"
		echo "plugin = $p"
		case $p in
		forkpool) echo "workers = 1" ;;
		mpi) echo "np = 1"; echo "mpirun_args = $mpiargs" ;;
		esac
	done
} >"$tmp/all.ini"
"$P/bin/hpcd" -c "$tmp/all.ini" --check >"$tmp/check.txt" 2>"$tmp/check.log" ||
	fail "hpcd --check cannot open every installed plugin"
for f in $plugins; do
	grep -q "file=$P/lib/hpcd/plugins/$f" "$tmp/check.txt" || fail "--check did not open $f"
done
rm -f "$tmp/check.log"

# ---- 4. a C program built with pkg-config ----------------------------------------------------

step "build a C program with pkg-config --cflags --libs hpc"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
pc=(pkg-config --define-variable=prefix="$P")
"${pc[@]}" --exists hpc || fail "pkg-config does not find hpc.pc"
[ "$(pkg-config --variable=prefix hpc)" = "$prefix" ] || fail "hpc.pc's prefix is not $prefix"
libdir=$("${pc[@]}" --variable=libdir hpc)
[ "$libdir" = "$P/lib" ] || fail "hpc.pc's libdir is '$libdir' with prefix=$P"
# shellcheck disable=SC2046
gcc -std=gnu11 -Wall -Wextra -Werror ${san[@]+"${san[@]}"} tests/install/client.c \
	$("${pc[@]}" --cflags --libs hpc) -Wl,-rpath,"$libdir" -o "$tmp/client" ||
	fail "gcc cannot build against the installed hpc.pc"
has 'NEEDED.*\[libhpc\.so\.1\]' "$(readelf -d "$tmp/client")" || fail "the program does not need libhpc.so.1"
has "libhpc.so.1 => $P/lib/libhpc.so.1" "$(ldd "$tmp/client")" || fail "the program does not load the installed library"
out=$("$tmp/client" "$sock") || fail "the program built with pkg-config failed: $out"
[ "$out" = "2 8 14 5" ] || fail "the program printed '$out'"
# shellcheck disable=SC2046
gcc -std=gnu11 -Wall -Wextra -Werror ${san[@]+"${san[@]}"} $("${pc[@]}" --cflags hpc) \
	tests/install/client.c "$libdir/libhpc.a" -o "$tmp/client-static" ||
	fail "gcc cannot link the installed libhpc.a"
! has 'NEEDED.*libhpc' "$(readelf -d "$tmp/client-static")" || fail "the static program needs libhpc.so"
out=$("$tmp/client-static" "$sock") || fail "the program linked with libhpc.a failed: $out"
[ "$out" = "2 8 14 5" ] || fail "the static program printed '$out'"

# ---- 5. the Python client ---------------------------------------------------------------------

if [ -d python/hpcd ]; then
	step "the Python client from $dd"
	init=$(find "$P/lib" -path '*/dist-packages/hpcd/__init__.py' | head -1)
	[ -n "$init" ] || fail "python/hpcd was not installed into a dist-packages folder"
	pydir=$(dirname "$(dirname "$init")")
	case $pydir in
	"$P"/lib/python3/dist-packages | "$P"/lib/python3.*/dist-packages) ;;
	*) fail "the Python package went to $pydir" ;;
	esac
	pre=()
	[ ${#san[@]} -eq 0 ] || pre=(LD_PRELOAD="$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0)
	cat >"$tmp/client.py" <<'PY'
import sys
import numpy as np
import hpcd

prefix, sock = sys.argv[1], sys.argv[2]
assert hpcd.__file__.startswith(prefix + "/"), hpcd.__file__
# The library it loaded is the installed one, not another on the system.
maps = [l.split()[-1] for l in open("/proc/self/maps") if "libhpc.so" in l]
assert maps and all(m == prefix + "/lib/libhpc.so.1" for m in maps), maps
with hpcd.connect(socket=sock) as c:
    A = c.asarray(np.arange(6.0).reshape(3, 2))
    x = c.asarray(np.array([1.0, 2.0]))
    y = c.matvec(A, x)
    assert list(y) == [2.0, 8.0, 14.0], y
    assert c.dot(x, x, backend="serial") == 5.0
    print(c.status())
print("python ok")
PY
	(cd / && env -u HPCD_LIBHPC -u HPCD_SOCKET ${pre[@]+"${pre[@]}"} PYTHONPATH="$pydir" \
		/usr/bin/python3 "$tmp/client.py" "$P" "$sock") >"$tmp/python.txt" 2>"$tmp/python.log" ||
		fail "the Python client failed (with no HPCD_LIBHPC, python/hpcd must find PREFIX/lib/libhpc.so.1 from its installed folder, PREFIX/lib/python3*/dist-packages/hpcd)"
	grep -q "python ok" "$tmp/python.txt" || fail "the Python client did not finish"
	rm -f "$tmp/python.log"
else
	echo "install_test: SKIPPED the Python client: python/hpcd is not in this tree yet"
fi

kill -TERM "$daemon"
wait "$daemon" || fail "the installed hpcd did not stop cleanly"
daemon=
[ ! -e "$sock" ] || fail "hpcd left its socket behind"

# ---- 6. man and systemd find what was installed ---------------------------------------------

for page in 8/hpcd 5/hpcd.ini 1/hpcrun 1/hpcgen 3/libhpc; do
	where=$(MANPATH=$P/share/man man -w "${page%%/*}" "${page#*/}" 2>/dev/null) || where=
	[ "$where" = "$P/share/man/man${page%%/*}/${page#*/}.${page%%/*}" ] ||
		fail "man does not find ${page#*/}(${page%%/*}) in the installed tree (got '$where')"
done

if command -v systemd-analyze >/dev/null; then
	step "systemd-analyze verify hpcd.service"
	# The unit names PREFIX; verify checks that what it runs exists, so point
	# those paths into the DESTDIR (and man at the installed pages).
	mkdir "$tmp/unit"
	sed "s|$prefix/|$P/|g" "$P/lib/systemd/system/hpcd.service" >"$tmp/unit/hpcd.service"
	grep -q "^ExecStart=$P/bin/hpcd -c $P/etc/hpcd/hpcd.ini$" "$tmp/unit/hpcd.service" ||
		fail "the unit does not run the installed hpcd on the installed config"
	MANPATH=$P/share/man systemd-analyze verify "$tmp/unit/hpcd.service" >"$tmp/verify.log" 2>&1 ||
		fail "systemd-analyze verify failed"
	[ ! -s "$tmp/verify.log" ] || fail "systemd-analyze verify complained"
	# shellcheck disable=SC2016 # $MAINPID is systemd's
	for want in User=hpcd RuntimeDirectory=hpcd 'ExecReload=/bin/kill -HUP $MAINPID' \
		StandardError=journal NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes; do
		grep -qxF "$want" "$tmp/unit/hpcd.service" || fail "the unit lacks $want"
	done
	grep -q '^socket = /run/hpcd/hpcd.sock' "$P/etc/hpcd/hpcd.ini" ||
		fail "the installed config does not use the unit's RuntimeDirectory"
	systemd-analyze security --offline=yes "$tmp/unit/hpcd.service" 2>/dev/null | tail -1 || true
	rm -f "$tmp/verify.log"
else
	echo "install_test: SKIPPED systemd-analyze verify: Debian's systemd is not installed"
fi

# ---- 7. uninstall -----------------------------------------------------------------------------

step "uninstall"
install_sh --uninstall 2>"$tmp/uninstall.log" || fail "install.sh --uninstall failed"
after=$(cd "$dd" && find . | sort)
[ "$after" = "$before" ] || fail "uninstall left or removed files:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"
[ "$(cat "$P/bin/other-tool")" = "someone else's" ] || fail "uninstall changed another's file"
rm -f "$tmp/uninstall.log"

step "reinstall twice, edit the config, reinstall, uninstall"
install_sh 2>"$tmp/install.log" || fail "install.sh failed"
first=$(cat "$P/lib/hpcd/install-manifest")
install_sh 2>"$tmp/install.log" || fail "install.sh failed the second time"
[ "$(cat "$P/lib/hpcd/install-manifest")" = "$first" ] || fail "a reinstall changed the manifest"
echo "; edited by the admin" >>"$P/etc/hpcd/hpcd.ini"
install_sh 2>"$tmp/install.log" || fail "install.sh failed over an edited config"
grep -q "edited by the admin" "$P/etc/hpcd/hpcd.ini" || fail "a reinstall overwrote the edited config"
grep -q "kept your" "$tmp/install.log" || fail "the reinstall did not say it kept the config"
install_sh --uninstall 2>"$tmp/uninstall.log" || fail "install.sh --uninstall failed"
grep -q "kept $P/etc/hpcd/hpcd.ini" "$tmp/uninstall.log" || fail "uninstall did not name the kept config"
after=$(cd "$dd" && find . | sort)
want=$(printf '%s\n' "$before" ./usr/local/etc ./usr/local/etc/hpcd ./usr/local/etc/hpcd/hpcd.ini | sort)
[ "$after" = "$want" ] || fail "uninstall after an edit left:"$'\n'"$(diff <(echo "$want") <(echo "$after"))"
rm -f "$tmp"/*.log

echo "install_test: ok"
