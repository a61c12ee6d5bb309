/*
 * bench_util - what the benchmark programs in bench/ share: the clock,
 * medians and percentiles, messages with the program's name, the real daemon
 * on a throwaway config, and plugins loaded in-process as the daemon loads
 * them. For the benchmarks only; nothing else in hpcd links it.
 *
 * Functions that can fail return 0 or a negative errno and, where the errno
 * alone says too little, leave one sentence in an err buffer; the program
 * decides whether to bench_die() on it.
 */
#ifndef HPCD_BENCH_BENCH_UTIL_H
#define HPCD_BENCH_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpc/client.h"
#include "hpc/plugin.h"

/* ---- messages --------------------------------------------------------------------- */

/* Prints "PROGRAM: <message>\n" on stderr, PROGRAM being the running program's file name. */
void bench_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench_warn(), then exit(1): for what a benchmark cannot measure around. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- options ---------------------------------------------------------------------- */

/*
 * One table describes a benchmark's options: the parser and the usage line are
 * made from it. STR stores optarg; INT and U64 parse a decimal in [min, max];
 * FLAG stores 1. The table ends with an entry whose name is NULL.
 */
enum bench_arg_kind { BENCH_ARG_STR, BENCH_ARG_INT, BENCH_ARG_U64, BENCH_ARG_FLAG };

struct bench_arg {
	const char *name; /* the long option, without "--" */
	enum bench_arg_kind kind;
	void *dst;          /* const char **, int *, uint64_t * or int * (FLAG) */
	const char *meta;   /* the value's name in the usage line ("N", "DIR") */
	long long min, max; /* INT and U64 */
};

#define BENCH_ARG_END                                                                              \
	{                                                                                          \
		NULL, BENCH_ARG_FLAG, NULL, NULL, 0, 0                                             \
	}

/* --hpcd PATH and --plugins DIR, which every benchmark of the daemon takes. */
#define BENCH_ARGS_DAEMON(hpcd, plugins)                                                           \
	{"hpcd", BENCH_ARG_STR, (hpcd), "PATH", 0, 0},                                             \
	{                                                                                          \
		"plugins", BENCH_ARG_STR, (plugins), "DIR", 0, 0                                   \
	}

/* --sizes N,N..., --reps K and --firsts K of the benchmarks that time generations. */
#define BENCH_ARGS_SERIES(sizes, reps, firsts)                                                     \
	{"sizes", BENCH_ARG_STR, (sizes), "N,N...", 0, 0},                                         \
	    {"reps", BENCH_ARG_INT, (reps), "K", 1, 100000},                                       \
	{                                                                                          \
		"firsts", BENCH_ARG_INT, (firsts), "K", 1, 100000                                  \
	}

/*
 * Parses argv against args. --help prints the usage line on stdout and exits
 * 0; an unknown option, a value out of range or a stray argument prints it on
 * stderr, with the reason, and exits 2.
 */
void bench_parse_args(int argc, char **argv, const struct bench_arg *args);

/*
 * The absolute path of the plugin folder `plugins` into out[PATH_MAX], or
 * bench_die() naming it.
 */
void bench_plugin_dir(const char *plugins, char *out);

/* ---- time and statistics ---------------------------------------------------------- */

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * Make this process's OpenMP threads wait the way hpcd's do (OMP_WAIT_POLICY
 * passive unless the caller set a policy), re-executing the program if libgomp
 * was already loaded with another one. Otherwise the idle threads of the
 * in-process runs keep spinning into the next daemon run and take one of the
 * two cores from it (or the other way round). Call first thing in main().
 */
void bench_omp_wait_like_hpcd(char **argv);

/*
 * OpenBLAS as the best reference it can be. Debian's OpenBLAS (DYNAMIC_ARCH)
 * picks its kernels from the processor's id, and on a processor it does not
 * know falls back to old ones (Prescott, SSE3, on the Intel Xeon seen here:
 * a dgemm at a quarter of its speed). This picks the best core type the
 * processor's flags (/proc/cpuinfo) allow: SkylakeX for AVX-512 F, BW, DQ
 * and VL, Haswell for AVX2 and FMA, else whatever the library chose; it
 * keeps the library's choice when that is of the same class or better
 * (Cooperlake or SapphireRapids for AVX-512; Zen for AVX2) and never
 * overrides an OPENBLAS_CORETYPE the user set.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE once, in its constructor, before main()
 * runs. A program linked with it therefore re-executes itself with the
 * variable set (bench_prepare_process() does, with OMP_WAIT_POLICY in the same
 * exec); after the exec the variable is removed from the environment again,
 * so that it stays with the reference: the daemon and anything else the
 * benchmark starts never see it. A child process for the reference alone
 * would have to share the operands and could not be interleaved with the
 * other variants moments apart; a dlopen() of OpenBLAS after setenv() breaks
 * as soon as anything else links OpenBLAS. A program not linked with OpenBLAS
 * is left alone.
 */
#define BENCH_OMP_PASSIVE 1u   /* OMP_WAIT_POLICY=passive unless set (bench_omp_wait_like_hpcd) */
#define BENCH_OPENBLAS_BEST 2u /* OPENBLAS_CORETYPE as above */

/* Call first thing in main(): sets what `flags` ask for and re-executes once if needed. */
void bench_prepare_process(char **argv, unsigned flags);

/*
 * After bench_prepare_process(argv, BENCH_OPENBLAS_BEST): one line saying which
 * core type runs the OpenBLAS reference and how it was chosen, e.g.
 * "SkylakeX (set for the reference: detection chose Prescott; the CPU has
 * AVX-512F/BW/DQ/VL)". "" when the program is not linked with OpenBLAS.
 */
const char *bench_openblas_note(void);

/* CLOCK_MONOTONIC, in seconds. */
double bench_now_s(void);

/* The median of v[0..n), n >= 1 (the mean of the middle two when n is even). Sorts v. */
double bench_median(double *v, int n);

/* The p-th percentile (0..100) of v[0..n), n >= 1, by nearest rank. Sorts v. */
double bench_pct_u64(uint64_t *v, size_t n, double p);

/*
 * The operands of an n x n matvec, the same on every run: a[n * n] in
 * [-0.5, 0.5) and x[n] in [0, 1).
 */
void bench_fill_matvec(double *a, double *x, uint64_t n);

/* ---- the daemon ----------------------------------------------------------------------- */

struct bench_daemon {
	pid_t pid;      /* the daemon, -1 when none runs */
	char dir[128];  /* the temporary folder of its config and socket, "" when none */
	char sock[256]; /* its socket, for hpc_connect() and hpc_control() */
	char err[512];  /* after a failed start: what went wrong */
};

/*
 * Starts the daemon binary hpcd on a config of its own in a new temporary
 * folder (tmp_prefix followed by six random characters) and waits up to wait_s
 * seconds until it answers STATUS. The config is a [daemon] section with the
 * socket in that folder, plugin_dir and log_level = warn, followed by the text
 * of fmt: more [daemon] keys, then the [backend NAME] sections. Returns 0, or
 * a negative errno with d->err saying why (nothing is left running or on disk
 * then). Stop it with bench_daemon_stop().
 */
/* The first line of /proc/loadavg, without its newline ("?" when unreadable). */
void bench_loadavg(char *buf, size_t len);

/* Prints "hpcd PROGRAM: WHAT, N CPUs online, loadavg L; UNITS\n": the machine a run saw. */
void bench_print_header(const char *what, const char *units);

int bench_daemon_start(struct bench_daemon *d, const char *hpcd, const char *plugin_dir,
		       const char *tmp_prefix, int wait_s, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Stops the daemon with SIGTERM, waits for it and removes its temporary
 * folder. Returns 0, or a negative errno when the folder could not be removed.
 */
int bench_daemon_stop(struct bench_daemon *d);

/* ---- jobs ---------------------------------------------------------------------------------- */

/* One job through the daemon, timed on the client's wall clock; bench_die() when it fails. */
double bench_run_ms(struct hpc_client *c, const struct hpc_request *r);

/* A client of the daemon with the operands of an n x n f64 matvec in its arena. */
struct bench_matvec {
	struct hpc_client *c;
	double *a, *x, *y;
	uint64_t n;
};

/* Connects to sock with room for them and fills them (bench_fill_matvec); bench_die() on failure.
 */
void bench_matvec_open(struct bench_matvec *mv, const char *sock, uint64_t n);
void bench_matvec_close(struct bench_matvec *mv);

/*
 * What a new generation of A costs on r's backend: *cold is the very first
 * job of the region there, *first the median of `firsts` jobs each after A got
 * a new generation (r->a_gen, from a counter shared by all calls). t holds
 * `firsts` timings.
 */
void bench_gen_first(struct hpc_client *c, struct hpc_request *r, int firsts, double *t,
		     double *cold, double *first);

/* For each size of a --sizes list ("4000,8000"), fn(n, arg); bench_die() on a bad list. */
void bench_each_size(const char *sizes, void (*fn)(uint64_t n, void *arg), void *arg);

/* ---- plugins in-process ------------------------------------------------------------------- */

struct bench_plugin {
	void *dl;
	const struct hpc_plugin_ops *ops;
};

/*
 * Loads dir/libhpc_NAME.so as the daemon does (RTLD_NOW | RTLD_LOCAL) and
 * takes its ops. Returns 0, or a negative errno with the reason in err.
 */
int bench_plugin_load(struct bench_plugin *p, const char *dir, const char *name, char *err,
		      size_t errlen);

/*
 * Opens an instance named `instance` of a loaded plugin, with a host that
 * logs nothing and the settings given as KEY, VALUE, ... pairs ending in NULL
 * (at most 8; a pair whose VALUE is NULL is left out; lines are numbered from
 * 1). Returns 0 with the instance in *state, or a negative errno with the
 * plugin's reason in err. The caller closes it with p->ops->close().
 */
int bench_plugin_open(const struct bench_plugin *p, const char *instance, void **state, char *err,
		      size_t errlen, ...) __attribute__((sentinel));

/* Unloads the plugin; its instances must be closed. */
void bench_plugin_unload(struct bench_plugin *p);

#endif /* HPCD_BENCH_BENCH_UTIL_H */
