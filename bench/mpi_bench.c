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

static double run_ms(struct hpc_client *c, const struct hpc_request *r)
{
	struct hpc_completion done;
	uint64_t t0 = bench_now_ns();
	int rc = hpc_run(c, r, &done);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc != 0)
		bench_die("%s matvec failed: %s", r->backend, hpc_strerror(rc, done.detail));
	return ms;
}

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

static void bench_size(const char *sock, uint64_t n, int reps, int firsts)
{
	struct hpc_client *c;
	int rc = hpc_connect(sock, n * n * 8 + 4 * n * 8 + (1 << 20), &c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	double *A = hpc_alloc(c, n * n * 8), *x = hpc_alloc(c, n * 8), *y = hpc_alloc(c, n * 8);
	if (!A || !x || !y)
		bench_die("arena too small");
	bench_fill_matvec(A, x, n);

	const char *names[] = {"omp", "mpi", "mpi_net"};
	const char *what[] = {"openmp, 2 threads", "mpi np=2, ranks map the region",
			      "mpi np=2, local_mmap=false (A over MPI)"};
	static uint64_t gen = 1;
	double *t = calloc((size_t)(reps > firsts ? reps : firsts), sizeof(double));
	for (int b = 0; b < 3; b++) {
		struct hpc_request r = {.op = HPC_OP_MATVEC,
					.m = n,
					.n = n,
					.a = A,
					.b = x,
					.out = y,
					.backend = names[b],
					.a_gen = ++gen};
		double cold = run_ms(c, &r);
		for (int i = 0; i < firsts; i++) {
			r.a_gen = ++gen;
			t[i] = run_ms(c, &r);
		}
		double first = bench_median(t, firsts);
		for (int i = 0; i < reps; i++) {
			x[i % n] += 1e-3; /* a new x each time, as in a solver (b_gen = 0) */
			t[i] = run_ms(c, &r);
		}
		double rep = bench_median(t, reps), best = t[0];
		double rd = read_ms(A, n * n);
		printf("%6llu  %-8s %-42s %9.1f %9.1f %9.2f %9.2f %9.2f\n", (unsigned long long)n,
		       names[b], what[b], cold, first, rep, best, rd);
		fflush(stdout);
	}
	free(t);
	hpc_close(c);
}

int main(int argc, char **argv)
{
	const char *hpcd = "daemon/hpcd", *plugins = "plugins", *sizes = "4000,8000";
	int reps = 15, firsts = 3;
	const struct bench_arg args[] = {
	    BENCH_ARGS_DAEMON(&hpcd, &plugins),
	    {"sizes", BENCH_ARG_STR, &sizes, "N,N...", 0, 0},
	    {"reps", BENCH_ARG_INT, &reps, "K", 1, 100000},
	    {"firsts", BENCH_ARG_INT, &firsts, "K", 1, 100000},
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

	char load[64];
	bench_loadavg(load, sizeof(load));
	printf("hpcd mpi_bench: f64 matvec, %ld CPUs online, loadavg %s; ms per call, client wall "
	       "clock\n",
	       sysconf(_SC_NPROCESSORS_ONLN), load);
	printf("%6s  %-8s %-42s %9s %9s %9s %9s %9s\n", "N", "backend", "", "cold", "first",
	       "repeat", "rep.min", "read A");
	for (const char *p = sizes; *p;) {
		char *end;
		uint64_t n = strtoull(p, &end, 10);
		if (end == p || n == 0)
			bench_die("bad --sizes %s", sizes);
		bench_size(d.sock, n, reps, firsts);
		p = *end == ',' ? end + 1 : end;
	}

	bench_daemon_stop(&d);
	return 0;
}
