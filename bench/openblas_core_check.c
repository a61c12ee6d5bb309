/*
 * openblas_core_check - a stand-in for a benchmark linked with OpenBLAS, for
 * openblas_core_test.sh: its own openblas_get_corename() (exported, found by
 * bench_util's dlsym as the real one would be) reports OPENBLAS_CORETYPE when
 * set, as OpenBLAS does, else the "detected" core named by FAKE_DETECTED.
 * Prints bench_openblas_note() and what the environment holds afterwards.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"

char *openblas_get_corename(void);

/* Called through dlsym(RTLD_DEFAULT) by bench_util. */
char *openblas_get_corename(void)
{
	static char name[64];
	const char *ct = getenv("OPENBLAS_CORETYPE"), *det = getenv("FAKE_DETECTED");
	snprintf(name, sizeof(name), "%s", ct ? ct : det ? det : "Prescott");
	return name;
}

int main(int argc, char **argv)
{
	bench_prepare_process(argv, BENCH_OPENBLAS_BEST | BENCH_OMP_PASSIVE);
	const char *ct = getenv("OPENBLAS_CORETYPE"), *det = getenv("HPC_BENCH_OPENBLAS_DETECTED");
	printf("note: %s\n", bench_openblas_note());
	printf("env OPENBLAS_CORETYPE: %s\n", ct ? ct : "(unset)");
	printf("env HPC_BENCH_OPENBLAS_DETECTED: %s\n", det ? det : "(unset)");
	printf("env OMP_WAIT_POLICY: %s\n",
	       getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
	return 0;
}
