/*
 * ipc_bench - what one job costs on the way through hpcd, next to the raw
 * costs of waking another process, all measured in one run (the machines are
 * noisy: compare ratios within a run, not figures across runs).
 *
 *   bazel run //bench:ipc_bench [-- --n 8000 --iters 20000]
 *
 * Prints:
 *  - a futex ping-pong and a spin ping-pong between two processes (round trip);
 *  - a tiny job (sum of one element on the serial backend) through the daemon,
 *    back to back and after idle (p50, p99), and batched jobs per second;
 *  - matvec at N x N f64 through the daemon (openmp backend, operands already
 *    in the client's region) next to the same plugin's kernel called
 *    in-process on the same memory.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "hpc/client.h"
#include "hpc/plugin.h"

/* ---- Raw ping-pong between two processes ------------------------------------- */

static void futex_wait(uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Round trips between two processes on a shared page; use_futex: sleep and
 * wake on each hand-off, else spin; idle_us: pause before each round trip, so
 * that both sides have gone to sleep. Returns p50 and p99 in ns. */
static void pingpong(int use_futex, size_t iters, uint64_t idle_us, double *p50, double *p99)
{
	uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	uint32_t *ping = &w[0], *pong = &w[16]; /* separate cache lines */
	*ping = *pong = 0;
	pid_t pid = fork();
	if (pid == 0) {
		for (uint32_t i = 1; i <= iters + 10; i++) {
			while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) != i)
				if (use_futex)
					futex_wait(ping, i - 1);
			__atomic_store_n(pong, i, __ATOMIC_RELEASE);
			if (use_futex)
				futex_wake(pong);
		}
		_exit(0);
	}
	uint64_t *t = calloc(iters + 10, sizeof(*t));
	for (uint32_t i = 1; i <= iters + 10; i++) {
		if (idle_us)
			usleep((useconds_t)idle_us);
		uint64_t t0 = bench_now_ns();
		__atomic_store_n(ping, i, __ATOMIC_RELEASE);
		if (use_futex)
			futex_wake(ping);
		while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != i)
			if (use_futex)
				futex_wait(pong, i - 1);
		t[i - 1] = bench_now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	*p50 = bench_pct_u64(t + 10, iters, 50); /* the first few warm up */
	*p99 = bench_pct_u64(t + 10, iters, 99);
	free(t);
	munmap(w, 4096);
}

static void tiny_jobs(struct hpc_client *c, size_t iters, uint64_t idle_us, double *p50,
		      double *p99)
{
	double *x = hpc_alloc(c, sizeof(double));
	*x = 1.0;
	struct hpc_request r = {.op = HPC_OP_SUM, .n = 1, .a = x, .backend = "serial"};
	uint64_t *t = calloc(iters, sizeof(*t));
	struct hpc_completion done;
	for (size_t i = 0; i < iters; i++) {
		if (idle_us)
			usleep((useconds_t)idle_us);
		uint64_t t0 = bench_now_ns();
		int rc = hpc_run(c, &r, &done);
		t[i] = bench_now_ns() - t0;
		if (rc != 0 || done.result != 1.0)
			bench_die("tiny job failed: %s", hpc_strerror(rc, done.detail));
	}
	*p50 = bench_pct_u64(t, iters, 50);
	*p99 = bench_pct_u64(t, iters, 99);
	free(t);
	hpc_free(c, x);
}

static double batched_rate(struct hpc_client *c, size_t total, unsigned batch)
{
	double *x = hpc_alloc(c, sizeof(double));
	*x = 1.0;
	struct hpc_request *rs = calloc(batch, sizeof(*rs));
	struct hpc_completion *cs = calloc(batch, sizeof(*cs));
	for (unsigned i = 0; i < batch; i++)
		rs[i] = (struct hpc_request){.op = HPC_OP_SUM, .n = 1, .a = x, .backend = "serial"};
	size_t submitted = 0, completed = 0;
	uint64_t t0 = bench_now_ns();
	while (completed < total) {
		/* Keep the rings full: submit what fits, collect what is done. */
		if (submitted < total && hpc_inflight(c) < batch) {
			unsigned want = batch - hpc_inflight(c);
			if (want > total - submitted)
				want = (unsigned)(total - submitted);
			int k = hpc_submit(c, rs, want);
			if (k < 0)
				bench_die("submit: %s", hpc_strerror(k, 0));
			submitted += (size_t)k;
		}
		int k = hpc_wait(c, cs, 1, batch, -1);
		if (k < 0)
			bench_die("wait: %s", hpc_strerror(k, 0));
		for (int i = 0; i < k; i++)
			if (cs[i].status)
				bench_die("batched job failed: %s",
					  hpc_strerror(cs[i].status, cs[i].detail));
		completed += (size_t)k;
	}
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	free(rs);
	free(cs);
	hpc_free(c, x);
	return (double)total / secs;
}

/* ---- matvec through the daemon and in-process ----------------------------------- */

static void matvec_compare(const char *sock, const char *plugins, uint64_t n, int reps)
{
	struct hpc_client *c;
	size_t bytes = n * n * 8 + 2 * n * 8 + (1 << 20);
	int rc = hpc_connect(sock, bytes, &c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	double *A = hpc_alloc(c, n * n * 8), *x = hpc_alloc(c, n * 8), *y = hpc_alloc(c, n * 8);
	bench_fill_matvec(A, x, n);

	/* The same plugin, loaded here, on the same memory. */
	struct bench_plugin omp;
	char err[256];
	void *state;
	if (bench_plugin_load(&omp, plugins, "openmp", err, sizeof(err)) < 0)
		bench_die("%s", err);
	if (bench_plugin_open(&omp, "bench", &state, err, sizeof(err), "threads", "2", NULL) < 0)
		bench_die("open openmp in-process: %s", err);

	struct hpc_request r = {
	    .op = HPC_OP_MATVEC, .m = n, .n = n, .a = A, .b = x, .out = y, .backend = "omp"};
	struct hpc_job job = {
	    .op = HPC_OP_MATVEC, .dtype = HPC_F64, .m = n, .n = n, .a = A, .b = x, .out = y};
	uint64_t *td = calloc((size_t)reps, sizeof(*td)), *ti = calloc((size_t)reps, sizeof(*ti));
	struct hpc_completion done;
	/* Warm both paths, then alternate blocks of runs so that drift hits both
	 * alike. A pause between blocks lets the other side's idle OpenMP threads
	 * (libgomp spins a while after each region) go to sleep first: on two
	 * cores they would otherwise steal time from the side being measured. */
	hpc_run(c, &r, &done);
	omp.ops->run(state, &job);
	const int block = 5;
	for (int i = 0; i < reps; i += block) {
		usleep(300000);
		for (int j = i; j < i + block && j < reps; j++) {
			uint64_t t0 = bench_now_ns();
			if (hpc_run(c, &r, &done) != 0)
				bench_die("matvec through the daemon failed: %s",
					  hpc_strerror(done.status, done.detail));
			td[j] = bench_now_ns() - t0;
		}
		usleep(300000);
		for (int j = i; j < i + block && j < reps; j++) {
			uint64_t t0 = bench_now_ns();
			if (omp.ops->run(state, &job) != 0)
				bench_die("matvec in-process failed");
			ti[j] = bench_now_ns() - t0;
		}
	}
	double d50 = bench_pct_u64(td, (size_t)reps, 50) / 1e6;
	double i50 = bench_pct_u64(ti, (size_t)reps, 50) / 1e6;
	double gbs = (double)(n * n * 8) / (d50 / 1e3) / 1e9;
	printf("matvec f64 N=%-6llu through hpcd (omp, 2 threads)  %8.2f ms   %6.1f GB/s of A\n",
	       (unsigned long long)n, d50, gbs);
	printf("matvec f64 N=%-6llu same kernel in-process          %8.2f ms   ratio "
	       "daemon/in-process %.3f\n",
	       (unsigned long long)n, i50, d50 / i50);
	omp.ops->close(state);
	bench_plugin_unload(&omp);
	free(td);
	free(ti);
	hpc_close(c);
}

int main(int argc, char **argv)
{
	bench_omp_wait_like_hpcd(argv);
	const char *hpcd = "daemon/hpcd", *plugins = "plugins";
	uint64_t n = 8000;
	uint64_t iters = 20000;
	int spin_us = 0;
	const struct bench_arg args[] = {
	    BENCH_ARGS_DAEMON(&hpcd, &plugins),
	    {"n", BENCH_ARG_U64, &n, "N", 1, 40000},
	    {"iters", BENCH_ARG_U64, &iters, "K", 100, 1000000000},
	    {"spin-us", BENCH_ARG_INT, &spin_us, "US", 0, 1000000},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	char plugdir[PATH_MAX];
	bench_plugin_dir(plugins, plugdir);

	printf("hpcd ipc_bench: %ld CPUs online, %llu iterations\n\n",
	       sysconf(_SC_NPROCESSORS_ONLN), (unsigned long long)iters);
	double fp50, fp99, sp50, sp99, fi50, fi99;
	size_t idle_iters = iters / 40 > 100 ? iters / 40 : 100;
	pingpong(1, iters / 4, 0, &fp50, &fp99);
	pingpong(1, idle_iters, 2000, &fi50, &fi99);
	pingpong(0, iters, 0, &sp50, &sp99);

	struct bench_daemon d;
	if (bench_daemon_start(&d, hpcd, plugdir, "/tmp/hpcd-bench-", 5,
			       "[backend serial]\nplugin = serial\n"
			       "[backend omp]\nplugin = openmp\nthreads = 2\n") < 0)
		bench_die("%s", d.err);
	struct hpc_client *c;
	struct hpc_connect_opts copts = {
	    .sq_entries = 1024, .cq_entries = 1024, .spin_us = (unsigned)spin_us};
	int rc = hpc_connect_opts(d.sock, 1 << 20, &copts, &c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	double b50, b99, i50, i99;
	tiny_jobs(c, 1000, 0, &b50, &b99); /* warm up */
	tiny_jobs(c, iters, 0, &b50, &b99);
	tiny_jobs(c, idle_iters, 2000, &i50, &i99);
	double rate = batched_rate(c, 2000000, 512);
	hpc_close(c);

	printf("%-52s %10s %10s\n", "round trip", "p50 (us)", "p99 (us)");
	printf("%-52s %10.2f %10.2f\n", "raw futex ping-pong, two processes", fp50 / 1e3,
	       fp99 / 1e3);
	printf("%-52s %10.2f %10.2f\n", "raw futex ping-pong, after 2 ms idle", fi50 / 1e3,
	       fi99 / 1e3);
	printf("%-52s %10.2f %10.2f\n", "raw spin ping-pong, two processes", sp50 / 1e3,
	       sp99 / 1e3);
	printf("%-52s %10.2f %10.2f\n", "tiny job through hpcd, back to back", b50 / 1e3,
	       b99 / 1e3);
	printf("%-52s %10.2f %10.2f\n", "tiny job through hpcd, after 2 ms idle", i50 / 1e3,
	       i99 / 1e3);
	printf("\ntiny job after idle / raw futex ping-pong after idle (p50): %.2f   (target <= "
	       "1.5)\n",
	       i50 / fi50);
	printf("tiny job after idle / raw futex ping-pong back to back (p50): %.2f\n", i50 / fp50);
	printf("back to back p50: %.2f us                 (target < 5 us)\n", b50 / 1e3);
	printf("batched tiny jobs: %.0f jobs/s           (target > 1000000)\n\n", rate);

	matvec_compare(d.sock, plugdir, n, 15);

	if (bench_daemon_stop(&d) < 0)
		bench_warn("could not remove %s", d.dir);
	return 0;
}
