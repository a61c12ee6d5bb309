/*
 * mpi_bench - first and repeated f64 matvec through hpcd on the mpi backend
 * (np = 2) against the openmp backend (2 threads), all in one run (the
 * machines are noisy: compare within a run).
 *
 *   bazel run //bench:mpi_bench [-- --sizes 4000,8000 --reps 15]
 *
 * Three backends of one daemon:
 *   omp       openmp, threads = 2
 *   mpi       mpi, np = 2: the ranks on this host map the client's region and
 *             read A in place (local_mmap = true, the default)
 *   mpi_net   mpi, np = 2, local_mmap = false: A travels over MPI as it would
 *             to ranks on other hosts - scattered once per generation, then
 *             resident on the ranks; x is broadcast and y gathered every time
 *
 * For each N: "cold" is the very first matvec of the client's region on the
 * backend; "first" is the median of the first matvec after A got a new
 * generation (what an iterative solver pays once per matrix); "repeat" is
 * the median (and minimum) of matvecs with the same A generation and a new x
 * each time (b_gen = 0), as in a solver's iterations. Times are the client's
 * wall clock around hpc_run(). "read A" is one pass over A by one thread of
 * this process, taken at the same moment, as a yardstick of memory speed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "hpc/client.h"

static double read_ms(const double *a, uint64_t count)
{
	uint64_t t0 = bench_now_ns();
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	for (uint64_t i = 0; i + 4 <= count; i += 4) {
		s0 += a[i];
		s1 += a[i + 1];
		s2 += a[i + 2];
		s3 += a[i + 3];
	}
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	volatile double sink = s0 + s1 + s2 + s3;
	(void)sink;
	return ms;
}

struct run {
	const char *sock;
	int reps, firsts;
};

static void bench_size(uint64_t n, void *arg)
{
	const struct run *run = arg;
	int reps = run->reps, firsts = run->firsts;
	struct bench_matvec mv;
	bench_matvec_open(&mv, run->sock, n);
	const char *names[] = {"omp", "mpi", "mpi_net"};
	const char *what[] = {"openmp, 2 threads", "mpi np=2, ranks map the region",
			      "mpi np=2, local_mmap=false (A over MPI)"};
	double *t = calloc((size_t)(reps > firsts ? reps : firsts), sizeof(double));
	if (!t)
		bench_die("out of memory");
	for (int b = 0; b < 3; b++) {
		struct hpc_request r = {.op = HPC_OP_MATVEC,
					.m = n,
					.n = n,
					.a = mv.a,
					.b = mv.x,
					.out = mv.y,
					.backend = names[b]};
		double cold, first;
		bench_gen_first(mv.c, &r, firsts, t, &cold, &first);
		for (int i = 0; i < reps; i++) {
			mv.x[i % n] += 1e-3; /* a new x each time, as in a solver (b_gen = 0) */
			t[i] = bench_run_ms(mv.c, &r);
		}
		double rep = bench_median(t, reps), best = t[0];
		double rd = read_ms(mv.a, n * n);
		printf("%6llu  %-8s %-42s %9.1f %9.1f %9.2f %9.2f %9.2f\n", (unsigned long long)n,
		       names[b], what[b], cold, first, rep, best, rd);
		fflush(stdout);
	}
	free(t);
	bench_matvec_close(&mv);
}

int main(int argc, char **argv)
{
	const char *hpcd = "daemon/hpcd", *plugins = "plugins", *sizes = "4000,8000";
	int reps = 15, firsts = 3;
	const struct bench_arg args[] = {
	    BENCH_ARGS_DAEMON(&hpcd, &plugins),
	    BENCH_ARGS_SERIES(&sizes, &reps, &firsts),
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	char plugdir[PATH_MAX];
	bench_plugin_dir(plugins, plugdir);
	const char *margs = geteuid() == 0 ? "--allow-run-as-root" : "";
	struct bench_daemon d;
	if (bench_daemon_start(&d, hpcd, plugdir, "/tmp/hpcd-mpibench-", 30,
			       "max_arena_mb = 8192\n"
			       "[backend omp]\nplugin = openmp\nthreads = 2\n"
			       "[backend mpi]\nplugin = mpi\nnp = 2\nmpirun_args = %s\n"
			       "[backend mpi_net]\nplugin = mpi\nnp = 2\nlocal_mmap = false\n"
			       "mpirun_args = %s\n",
			       margs, margs) < 0)
		bench_die("%s", d.err);

	bench_print_header("f64 matvec", "ms per call, client wall clock");
	printf("%6s  %-8s %-42s %9s %9s %9s %9s %9s\n", "N", "backend", "", "cold", "first",
	       "repeat", "rep.min", "read A");
	struct run run = {d.sock, reps, firsts};
	bench_each_size(sizes, bench_size, &run);

	bench_daemon_stop(&d);
	return 0;
}
