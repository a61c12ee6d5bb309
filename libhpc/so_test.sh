#!/usr/bin/env bash
# libhpc.so as a program outside Bazel sees it: its dynamic symbols are exactly
# the API of include/hpc/client.h, versioned HPC_1.0, its SONAME is
# libhpc.so.1, and a C program compiled with plain gcc against include/ and
# the library runs a job on the real daemon (serial backend).
set -euo pipefail

lib=$PWD/libhpc/libhpc.so
. tests/common/shtest.sh so_test

# 1. The exported symbols: the names listed in libhpc.lds, all @@HPC_1.0.
want=$(sed -n 's/^[[:space:]]*\(hpc_[a-z_]*\);$/\1/p' libhpc/libhpc.lds | sort)
[ "$(echo "$want" | wc -l)" -ge 14 ] || fail "libhpc.lds lists too few symbols"
got=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
[ "$(echo "$got" | sed 's/@@HPC_1\.0$//' | sort)" = "$want" ] ||
	fail "exported symbols differ from libhpc.lds:"$'\n'"$got"
if echo "$got" | grep -v '@@HPC_1\.0$' >/dev/null; then
	fail "unversioned exports:"$'\n'"$got"
fi
others=$(nm -D --defined-only "$lib" | awk '$2 != "A" && $3 !~ /^hpc_/ { print }')
[ -z "$others" ] || fail "unexpected exports: $others"
# Every public function of the header is in the map.
for f in $(sed -n 's/^[a-z].* \**\(hpc_[a-z_]*\)(.*/\1/p' include/hpc/client.h | sort -u); do
	echo "$want" | grep -qx "$f" || fail "$f is declared in hpc/client.h but not exported"
done

# 2. The SONAME.
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libhpc.so.1 ] || fail "SONAME is '$soname', not libhpc.so.1"

# 3. A program built with plain gcc, outside Bazel, linked with -lhpc.
mkdir "$tmp/lib" "$tmp/include"
cp -r include/hpc "$tmp/include/"
ln -s "$lib" "$tmp/lib/libhpc.so.1"
ln -s "$lib" "$tmp/lib/libhpc.so"
gcc -std=gnu11 -Wall -Wextra -Werror ${san[@]+"${san[@]}"} -I"$tmp/include" \
	libhpc/so_test.c -L"$tmp/lib" -lhpc -Wl,-rpath,"$tmp/lib" -o "$tmp/so_test" ||
	fail "gcc could not build against include/ and libhpc.so"
readelf -d "$tmp/so_test" | grep -q 'NEEDED.*\[libhpc\.so\.1\]' ||
	fail "the program does not record libhpc.so.1"

cat >"$tmp/hpcd.ini" <<INI
[daemon]
socket = $tmp/hpcd.sock
plugin_dir = $PWD/plugins
[backend serial]
plugin = serial
INI
daemon/hpcd -c "$tmp/hpcd.ini" 2>"$tmp/hpcd.log" &
daemon=$!
"$tmp/so_test" "$tmp/hpcd.sock" || fail "the program failed"
kill -TERM "$daemon"
wait "$daemon" || fail "hpcd did not stop cleanly"
daemon=
[ ! -e "$tmp/hpcd.sock" ] || fail "hpcd left its socket behind"
echo "so_test: ok"
