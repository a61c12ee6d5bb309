/*
 * mpi_hosts_bench - f64 matvec through hpcd's mpi backend with np = 2 and one
 * rank on a test host (a network namespace of tests/mpi_hosts/test_hosts.sh,
 * reached over TCP through a bridge), against the same on one host, against
 * the ranks' compute alone, and against the lecture's mpi4py program
 * (bench/mpi4py_matvec.py: a scatter of A every call). The hosts share this
 * machine's cores and memory: this measures protocol costs, not speed-up.
 * Root only (it makes the test host, and removes it at the end).
 *
 *   bazel run //bench:mpi_hosts_bench [-- --sizes 4000,8000 --reps 15]
 *
 * Backends of one daemon, all np = 2:
 *   hosts     rank 0 here, rank 1 on hpcdh1: A goes over TCP once per
 *             generation and stays resident; x and y travel every call
 *   one       both ranks here, local_mmap = false: the same protocol over
 *             Open MPI's shared-memory transport
 *   one_map   both ranks here, mapping the client's region (the default)
 *
 * Columns (ms per call, client wall clock around hpc_run()): "cold" the very
 * first call of the region on the backend, "first" the median call after A
 * got a new generation (A sent), "repeat" the median (and minimum) of calls
 * with A resident and a new x each time, in blocks of three back to back.
 * "compute" is the ranks' compute alone: the worker's own kernel, two threads
 * of N/2 rows each at once (as the two ranks), timed in this process in
 * blocks of three between the blocks of calls; "rep/cmp" the ratio of the
 * medians.
 * The mpi4py rows: the first call (scatter of A), a repeated call (scatter
 * again), and its compute alone (Bcast x, local A @ x, Gather y; no scatter),
 * with OPENBLAS_NUM_THREADS=1 per rank.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "hpc/client.h"
#include "kernels/openmp.h"

#define SUBNET "10.213.57.0/24"

static const char *g_script;

/*
 * The ranks' compute alone: the worker's kernel over all n rows on two threads
 * at once, n/2 rows each - what the two ranks compute in parallel, on the same
 * two cores, with no protocol around it.
 */
static double compute_ms(const double *a, const double *x, double *y, uint64_t n)
{
	uint64_t t0 = bench_now_ns();
	hpc_omp_matvec_f64(a, x, y, n, n, 2);
	return (double)(bench_now_ns() - t0) / 1e6;
}

struct run {
	const char *sock;
	int reps, firsts;
	const char *python, *prog, *hostfile, *agent;
};

static void bench_mpi4py(const char *python, const char *prog, const char *hostfile,
			 const char *agent, uint64_t n, int reps);

static void bench_size(uint64_t n, void *arg)
{
	const struct run *run = arg;
	int reps = run->reps, firsts = run->firsts;
	struct bench_matvec mv;
	bench_matvec_open(&mv, run->sock, n);
	double *A = mv.a, *x = mv.x;
	const char *names[] = {"hosts", "one", "one_map"};
	const char *what[] = {"np=2, rank 1 on hpcdh1 over TCP", "np=2 here, local_mmap=false",
			      "np=2 here, ranks map the region"};
	int nt = reps > firsts ? reps : firsts;
	double *t = calloc((size_t)nt, sizeof(double)), *tc = calloc((size_t)nt, sizeof(double));
	double *yc = malloc(n * 8);
	if (!t || !tc || !yc)
		bench_die("out of memory");
	for (int b = 0; b < 3; b++) {
		struct hpc_request r = {.op = HPC_OP_MATVEC,
					.m = n,
					.n = n,
					.a = A,
					.b = x,
					.out = mv.y,
					.backend = names[b]};
		double cold, first;
		bench_gen_first(mv.c, &r, firsts, t, &cold, &first);
		/* Blocks of 3 back-to-back calls (a solver's pattern) and 3 runs of the compute
		 * alone in turns: both see the same moments of a noisy machine. */
		for (int i = 0; i < reps; i += 3) {
			for (int j = i; j < reps && j < i + 3; j++) {
				x[j % n] += 1e-3; /* a new x each time (b_gen = 0) */
				t[j] = bench_run_ms(mv.c, &r);
			}
			for (int j = i; j < reps && j < i + 3; j++)
				tc[j] = compute_ms(A, x, yc, n);
		}
		double best = t[0];
		for (int i = 1; i < reps; i++)
			best = t[i] < best ? t[i] : best;
		double rep = bench_median(t, reps), comp = bench_median(tc, reps);
		printf("%6llu  %-8s %-34s %9.1f %9.1f %9.2f %9.2f %9.2f %7.2f\n",
		       (unsigned long long)n, names[b], what[b], cold, first, rep, best, comp,
		       rep / comp);
		fflush(stdout);
	}
	free(t);
	free(tc);
	free(yc);
	bench_matvec_close(&mv);
	if (access(run->python, X_OK) == 0) {
		bench_mpi4py(run->python, run->prog, run->hostfile, run->agent, n, reps);
		bench_mpi4py(run->python, run->prog, NULL, NULL, n, reps);
	}
}

/* mpirun -n 2 [hosts] python3 mpi4py_matvec.py N REPS; prints its line. */
static void bench_mpi4py(const char *python, const char *prog, const char *hostfile,
			 const char *agent, uint64_t n, int reps)
{
	char cmd[2048];
	int len = snprintf(
	    cmd, sizeof(cmd),
	    "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 mpirun %s%s -n 2 %s%s%s%s%s "
	    "-x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS %s %s %llu %d 2>&1",
	    geteuid() == 0 ? "--allow-run-as-root" : "", hostfile ? " --bind-to none" : "",
	    hostfile ? "--hostfile " : "", hostfile ? hostfile : "",
	    hostfile ? " --mca plm_rsh_agent " : "", hostfile ? agent : "",
	    hostfile
		? " --mca mpi_yield_when_idle 1 --mca btl tcp,self --mca btl_tcp_if_include " SUBNET
		  " --mca oob_tcp_if_include " SUBNET
		: "",
	    python, prog, (unsigned long long)n, reps);
	if (len < 0 || (size_t)len >= sizeof(cmd))
		bench_die("the mpirun command for mpi4py is too long (paths of %zu and %zu bytes)",
			  strlen(python), strlen(prog));
	FILE *p = popen(cmd, "r");
	if (!p)
		bench_die("cannot run mpirun for mpi4py");
	char line[512];
	int found = 0;
	while (fgets(line, sizeof(line), p)) {
		double first, again, alone;
		unsigned long long nn;
		if (sscanf(line, "mpi4py %llu %lf %lf %lf", &nn, &first, &again, &alone) == 4) {
			printf("%6llu  %-8s %-34s %9.1f %9s %9.2f %9s %9.2f %7.2f%s\n", nn,
			       "mpi4py", hostfile ? "np=2, rank 1 on hpcdh1 over TCP" : "np=2 here",
			       first, "-", again, "-", alone, again / alone,
			       strstr(line, "WRONG") ? "  (WRONG RESULT)" : "");
			found = 1;
		} else if (!found) {
			fputs("  mpi4py: ", stdout);
			fputs(line, stdout);
		}
	}
	pclose(p);
	fflush(stdout);
}

static void hosts_down(void)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "/bin/bash %s down", g_script);
	if (system(cmd) != 0)
		bench_warn("test_hosts.sh down failed");
}

int main(int argc, char **argv)
{
	const char *hpcd = "daemon/hpcd", *plugins = "plugins", *sizes = "4000,8000";
	const char *script = "tests/mpi_hosts/test_hosts.sh",
		   *agent_src = "tests/mpi_hosts/rsh_agent.sh", *python = "/usr/bin/python3",
		   *prog = "bench/mpi4py_matvec.py";
	int reps = 15, firsts = 3;
	bench_omp_wait_like_hpcd(argv);
	const struct bench_arg args[] = {
	    BENCH_ARGS_DAEMON(&hpcd, &plugins),
	    BENCH_ARGS_SERIES(&sizes, &reps, &firsts),
	    {"python", BENCH_ARG_STR, &python, "PATH", 0, 0},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	if (geteuid() != 0)
		bench_die("the test host is a network namespace: run as root");
	char plugdir[PATH_MAX], scriptp[PATH_MAX], agentp[PATH_MAX], progp[PATH_MAX];
	if (!realpath(plugins, plugdir) || !realpath(script, scriptp) ||
	    !realpath(agent_src, agentp) || !realpath(prog, progp))
		bench_die("run it with bazel run (plugins, test_hosts.sh, rsh_agent.sh, "
			  "mpi4py_matvec.py come from its runfiles)");
	g_script = scriptp;

	/* The test host; a watcher of its own session removes it if this is killed. */
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "/bin/bash %s up 1", scriptp);
	int st = system(cmd);
	if (st != 0)
		bench_die("test_hosts.sh up 1 failed (status %d)", WEXITSTATUS(st));
	pid_t self = getpid();
	if (fork() == 0) {
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		char p[24];
		snprintf(p, sizeof(p), "%d", (int)self);
		execl("/bin/bash", "bash", scriptp, "watch", p, (char *)NULL);
		_exit(127);
	}
	atexit(hosts_down);

	char dir[] = "/tmp/hpcd-mhbench-XXXXXX";
	if (!mkdtemp(dir))
		bench_die("mkdtemp");
	char hostfile[64], agent[64], host[256] = "";
	snprintf(hostfile, sizeof(hostfile), "%s/hosts", dir);
	snprintf(agent, sizeof(agent), "%s/rsh", dir);
	gethostname(host, sizeof(host) - 1);
	FILE *hf = fopen(hostfile, "w");
	if (!hf || symlink(agentp, agent) != 0)
		bench_die("cannot write %s", dir);
	fprintf(hf, "%s slots=1\nhpcdh1 slots=1\n", host);
	fclose(hf);

	struct bench_daemon d;
	if (bench_daemon_start(&d, hpcd, plugdir, "/tmp/hpcd-mhbench-d-", 60,
			       "max_arena_mb = 8192\n"
			       "[backend hosts]\nplugin = mpi\nnp = 2\nhostfile = %s\n"
			       "mpirun_args = --allow-run-as-root --bind-to none\n"
			       "mca = plm_rsh_agent=%s mpi_yield_when_idle=1 btl=tcp,self "
			       "btl_tcp_if_include=" SUBNET " oob_tcp_if_include=" SUBNET "\n"
			       "[backend one]\nplugin = mpi\nnp = 2\nlocal_mmap = false\n"
			       "mpirun_args = --allow-run-as-root\n"
			       "[backend one_map]\nplugin = mpi\nnp = 2\n"
			       "mpirun_args = --allow-run-as-root\n",
			       hostfile, agent) < 0)
		bench_die("%s", d.err);

	bench_print_header("f64 matvec", "ms per call");
	printf("%6s  %-8s %-34s %9s %9s %9s %9s %9s %7s\n", "N", "backend", "", "cold", "first",
	       "repeat", "rep.min", "compute", "rep/cmp");
	struct run run = {d.sock, reps, firsts, python, progp, hostfile, agent};
	bench_each_size(sizes, bench_size, &run);
	if (access(python, X_OK) != 0)
		printf("(no %s: the mpi4py rows need python3-mpi4py)\n", python);

	bench_daemon_stop(&d);
	unlink(agent);
	unlink(hostfile);
	rmdir(dir);
	return 0;
}
