#!/bin/bash
# Smoke test of kernels_bench: a --quick run prints the table and the targets
# and writes the CSV (and the SVG plot where gnuplot is installed).
set -euo pipefail
cd "${TEST_SRCDIR}/hpcd"
out="${TEST_TMPDIR}/kbench"
log="${TEST_TMPDIR}/kbench.log"
bench/kernels_bench --quick --out "$out" >"$log" 2>&1 || { cat "$log"; exit 1; }
cat "$log"
fail() { echo "FAIL: $*"; exit 1; }
grep -q '^STREAM .*read [0-9.]* GB/s, triad [0-9.]* GB/s' "$log" || fail "no STREAM line"
grep -Eq '^OpenBLAS core: [A-Za-z0-9]+ \(' "$log" || fail "no OpenBLAS core type"
grep -Eq '^peak: .* = [0-9.]+ GFLOP/s f64' "$log" || fail "no peak line"
for op in matvec dot sum axpy matmul; do
	for dt in f64 f32; do
		grep -Eq "^$op +$dt .*openmp \(hpcd\)" "$log" || fail "no $op $dt row through the daemon"
		grep -Eq "^$op +$dt .*OpenBLAS" "$log" || fail "no $op $dt row for OpenBLAS"
	done
done
grep -q '^Targets' "$log" || fail "no Targets section"
grep -Eq '\[(PASS|MISS)\] matvec f64 .* x read' "$log" || fail "no matvec ratio to the read bandwidth"
grep -Eq '\[(PASS|MISS)\] matmul f64 .* x OpenBLAS dgemm' "$log" || fail "no matmul ratio to dgemm"
grep -Eq '\[(PASS|MISS)\] matmul f32 .* x OpenBLAS sgemm' "$log" || fail "no matmul ratio to sgemm"
grep -Eq '\[(PASS|MISS)\] matvec f32 .* x read' "$log" || fail "no f32 matvec ratio to the read"
grep -Eq 'through hpcd / in-process = [0-9.]+' "$log" || fail "no daemon/in-process ratio"
csv="$out/kernels_bench.csv"
[ -s "$csv" ] || fail "no CSV"
head -1 "$csv" | grep -q '^op,dtype,size,' || fail "CSV header"
[ "$(grep -c ',omp,' "$csv")" -ge 10 ] || fail "too few openmp rows in the CSV"
if command -v gnuplot >/dev/null 2>&1; then
	grep -q '<svg' "$out/kernels_bench.svg" || fail "no SVG plot"
fi
echo PASS
