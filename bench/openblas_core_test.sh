#!/bin/bash
# bench_prepare_process(BENCH_OPENBLAS_BEST): OpenBLAS gets the best core type the CPU's flags
# allow when its detection chose a weaker one, keeps a choice as good, never overrides the
# user, and the variable does not outlive the re-exec (it is for the reference alone).
set -euo pipefail
bin="${TEST_SRCDIR}/hpcd/bench/openblas_core_check"
fail() { echo "FAIL: $*"; exit 1; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f && has avx512bw && has avx512dq && has avx512vl && has avx2 && has fma; then
	best=SkylakeX same=Cooperlake
elif has avx2 && has fma; then
	best=Haswell same=Zen
else
	best="" same=Prescott
fi

out=$(env -u OPENBLAS_CORETYPE FAKE_DETECTED=Prescott "$bin")
echo "$out"
if [ -n "$best" ]; then
	grep -q "^note: $best (OPENBLAS_CORETYPE=$best set for the reference: detection chose Prescott" <<<"$out" ||
		fail "no override to $best"
else
	grep -q "^note: Prescott (as detected" <<<"$out" || fail "overrode without a better core"
fi
grep -q '^env OPENBLAS_CORETYPE: (unset)' <<<"$out" || fail "OPENBLAS_CORETYPE outlived the exec"
grep -q '^env HPC_BENCH_OPENBLAS_DETECTED: (unset)' <<<"$out" || fail "the marker outlived the exec"
grep -q '^env OMP_WAIT_POLICY: passive' <<<"$out" || fail "no passive wait policy"

out=$(env -u OPENBLAS_CORETYPE FAKE_DETECTED=$same "$bin")
echo "$out"
grep -q "^note: $same (as detected" <<<"$out" || fail "replaced a detection as good as the CPU"

out=$(OPENBLAS_CORETYPE=Nehalem "$bin")
echo "$out"
grep -q "^note: Nehalem (OPENBLAS_CORETYPE=Nehalem set by the user" <<<"$out" || fail "overrode the user"
grep -q '^env OPENBLAS_CORETYPE: Nehalem' <<<"$out" || fail "dropped the user's setting"
echo PASS
