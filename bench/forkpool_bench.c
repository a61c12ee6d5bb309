/*
 * forkpool_bench - static against dynamic scheduling on the forkpool backend
 * when the work is unequal, with the timeline of each as an SVG picture:
 *
 *   bazel run //bench:forkpool_bench [-- --out DIR --n 6000 --reps 5]
 *
 * The unequal work: a neighbour process busy on the last CPU, as on any
 * shared machine. The workers are pinned one per CPU (as OMP_PROC_BIND would
 * do), so the worker that shares its CPU with the neighbour runs at about
 * half speed. Static gives each worker an equal share and waits for the slow
 * one (IPython's direct view); dynamic hands out chunks as workers finish
 * (the load-balanced view), so the fast worker takes more of them. A quiet
 * run (no neighbour) is measured too, where the two should tie.
 *
 * The job: an f64 matvec (n x n) in a real memfd region, run through the
 * real plugin file (dlopen, as the daemon does) with the proposed job
 * fields asking for the chunk records (struct hpc_job.chunks).
 * Printed per case: the median wall time of --reps jobs and, for the median
 * job, each worker's busy time (sum of its chunks) and its chunk count;
 * written: one SVG timeline per case into --out.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "hpc/plugin.h"
#include "ipc/region.h"
#include "timeline/svg.h"

#define MAX_RECS 4096
#define MAX_REPS 101

static void *open_fp(const struct bench_plugin *fp, const char *workers, const char *schedule,
		     const char *chunk)
{
	char err[1024];
	void *state;
	if (bench_plugin_open(fp, "bench", &state, err, sizeof(err), "workers", workers, "schedule",
			      schedule, "chunk", chunk, NULL) < 0)
		bench_die("open forkpool: %s", err);
	return state;
}

/* Worker pids from describe() ("... pids=1,2"). */
static int worker_pids(const struct hpc_plugin_ops *ops, void *st, pid_t *pids, int max)
{
	char buf[4096];
	if (ops->describe(st, buf, sizeof(buf)) < 0)
		return 0;
	const char *p = strstr(buf, "pids=");
	int n = 0;
	for (p = p ? p + 5 : NULL; p && *p && n < max;) {
		pids[n++] = (pid_t)strtol(p, (char **)&p, 10);
		if (*p != ',')
			break;
		p++;
	}
	return n;
}

static void pin(pid_t pid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(pid, sizeof(set), &set) < 0)
		bench_warn("cannot pin %d to CPU %d: %s", (int)pid, cpu, strerror(errno));
}

/* The neighbour: a process that spins on one CPU until killed. */
static pid_t start_neighbour(int cpu)
{
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		pin(0, cpu);
		volatile uint64_t x = 0;
		for (;;)
			x++;
	}
	return pid;
}

struct outcome {
	double ms;
	struct hpc_chunk_rec recs[MAX_RECS];
	uint32_t nrecs;
};

static int cmp_outcome(const void *a, const void *b)
{
	double x = (*(const struct outcome *const *)a)->ms,
	       y = (*(const struct outcome *const *)b)->ms;
	return x < y ? -1 : x > y;
}

static void run_case(const struct bench_plugin *fp, struct hpci_region *reg, uint64_t n,
		     const char *label, const char *schedule, const char *chunk, int workers,
		     int ncpu, int reps, const char *out_dir, const char *scenario)
{
	char wbuf[16];
	snprintf(wbuf, sizeof(wbuf), "%d", workers);
	const struct hpc_plugin_ops *ops = fp->ops;
	void *st = open_fp(fp, wbuf, schedule, chunk);
	pid_t pids[256];
	int np = worker_pids(ops, st, pids, 256);
	for (int i = 0; i < np; i++)
		pin(pids[i], i % ncpu);

	static struct outcome runs[MAX_REPS + 1];
	struct outcome *order[MAX_REPS + 1];
	const uint64_t a_off = 0, x_off = n * n * 8, y_off = x_off + n * 8;
	for (int r = -1; r < reps; r++) { /* r = -1: warm-up (first touch of the mappings) */
		struct outcome *o = &runs[r < 0 ? reps : r];
		struct hpc_job job = {0};
		struct hpc_job *j = &job;
		j->op = HPC_OP_MATVEC;
		j->dtype = HPC_F64;
		j->m = n;
		j->n = n;
		j->a = reg->arena + a_off;
		j->b = reg->arena + x_off;
		j->out = reg->arena + y_off;
		j->region_fd = reg->fd;
		j->size = sizeof(job);
		j->region_id = 1;
		j->arena_off = reg->layout.arena_off;
		j->a_off = a_off;
		j->b_off = x_off;
		j->out_off = y_off;
		j->chunks = o->recs;
		j->chunks_cap = MAX_RECS;
		uint64_t t0 = bench_now_ns();
		int rc = ops->run(st, j);
		o->ms = (double)(bench_now_ns() - t0) / 1e6;
		if (rc < 0)
			bench_die("%s: run failed: %s", label, strerror(-rc));
		o->nrecs = j->chunks_count < MAX_RECS ? j->chunks_count : MAX_RECS;
		if (r >= 0)
			order[r] = o;
	}
	qsort(order, (size_t)reps, sizeof(order[0]), cmp_outcome);
	const struct outcome *med = order[reps / 2];

	printf("%-10s %-22s %9.1f ms  (min %.1f, max %.1f)  busy:", scenario, label, med->ms,
	       order[0]->ms, order[reps - 1]->ms);
	for (int i = 0; i < np; i++) {
		double busy = 0;
		int chunks = 0;
		for (uint32_t k = 0; k < med->nrecs; k++)
			if ((pid_t)med->recs[k].pid == pids[i]) {
				busy += (double)(med->recs[k].end_ns - med->recs[k].start_ns) / 1e6;
				chunks++;
			}
		printf(" w%d(cpu%d) %.1f ms/%d chunks%s", i, i % ncpu, busy, chunks,
		       i + 1 < np ? ";" : "");
	}
	printf("\n");

	char path[4096], title[256];
	snprintf(path, sizeof(path), "%s/forkpool_%s_%s.svg", out_dir, scenario, label);
	for (char *p = strrchr(path, '/') + 1; *p; p++)
		if (*p == ' ' || *p == '=')
			*p = '_';
	snprintf(title, sizeof(title),
		 "forkpool %s, %d workers: matvec %llux%llu f64, %s (median of %d: %.1f ms)", label,
		 workers, (unsigned long long)n, (unsigned long long)n, scenario, reps, med->ms);
	int rc = hpc_timeline_svg_file(path, med->recs, med->nrecs, title);
	if (rc < 0)
		bench_warn("%s: %s", path, strerror(-rc));
	ops->close(st);
}

int main(int argc, char **argv)
{
	const char *out_dir = "/tmp/hpcd-forkpool-bench";
	const char *plugins = "plugins";
	uint64_t n = 6000;
	int reps = 5;
	int workers = 2;
	const struct bench_arg args[] = {
	    {"out", BENCH_ARG_STR, &out_dir, "DIR", 0, 0},
	    {"n", BENCH_ARG_U64, &n, "N", 16, 20000},
	    {"reps", BENCH_ARG_INT, &reps, "R", 1, MAX_REPS},
	    {"workers", BENCH_ARG_INT, &workers, "W", 1, 64},
	    {"plugins", BENCH_ARG_STR, &plugins, "DIR", 0, 0},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
		bench_die("%s: %s", out_dir, strerror(errno));

	long ncpu_l = sysconf(_SC_NPROCESSORS_ONLN);
	int ncpu = ncpu_l < 1 ? 1 : (int)ncpu_l;
	struct bench_plugin fp; /* never unloaded: the process ends first */
	char err[1024];
	if (bench_plugin_load(&fp, plugins, "forkpool", err, sizeof(err)) < 0)
		bench_die("%s", err);

	struct hpc_region_hdr layout;
	struct hpci_region reg;
	if (hpci_region_layout((n * n + 2 * n) * 8, 2, 2, &layout) < 0 ||
	    hpci_region_create(&layout, "forkpool-bench", 1, &reg) < 0)
		bench_die("cannot create a %llu MB region", (unsigned long long)(n * n * 8 >> 20));
	double *a = (double *)reg.arena, *x = a + n * n;
	uint64_t s = 88172645463325252ull;
	for (uint64_t i = 0; i < n * n + n; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		*(i < n * n ? &a[i] : &x[i - n * n]) = (double)(s >> 11) * 0x1p-53 - 0.5;
	}

	printf(
	    "forkpool: static against dynamic, matvec %llux%llu f64 (%.0f MB), %d workers pinned "
	    "one per CPU on %d CPUs, median of %d\n",
	    (unsigned long long)n, (unsigned long long)n, (double)(n * n * 8) / 1e6, workers, ncpu,
	    reps);
	static const struct {
		const char *label, *schedule, *chunk;
	} cases[] = {
	    {"static", "static", NULL},
	    {"dynamic chunk=auto", "dynamic", NULL},
	    {"dynamic chunk=64", "dynamic", "64"},
	};
	for (int scenario = 0; scenario < 2; scenario++) {
		pid_t hog = -1;
		const char *name = scenario ? "neighbour" : "quiet";
		if (scenario) {
			hog = start_neighbour(ncpu - 1);
			printf("-- a neighbour process spins on CPU %d: the worker there runs at "
			       "about "
			       "half speed\n",
			       ncpu - 1);
			usleep(100000);
		} else {
			printf("-- quiet machine: equal work, equal workers\n");
		}
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
			run_case(&fp, &reg, n, cases[k].label, cases[k].schedule, cases[k].chunk,
				 workers, ncpu, reps, out_dir, name);
		if (hog > 0) {
			kill(hog, SIGKILL);
			waitpid(hog, NULL, 0);
		}
	}
	printf("timelines: %s/forkpool_*.svg\n", out_dir);
	hpci_region_unmap(&reg);
	return 0;
}
