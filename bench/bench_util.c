/*
 * bench_util - the helpers the benchmark programs share (bench_util.h).
 */
#include "bench/bench_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpc/client.h"

/* ---- messages --------------------------------------------------------------------- */

static void vwarn(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void bench_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(1);
}

/* ---- time and statistics ---------------------------------------------------------- */

/* What the processor's flags allow OpenBLAS: 2 AVX-512 (F, BW, DQ, VL), 1 AVX2 + FMA, 0 less. */
static int cpu_blas_class(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int cls = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		char *save = NULL, *colon = strchr(line, ':');
		int has[6] = {0};
		static const char *const want[6] = {"avx2",     "fma",      "avx512f",
						    "avx512bw", "avx512dq", "avx512vl"};
		for (char *w = strtok_r(colon ? colon + 1 : line, " \t\n", &save); w;
		     w = strtok_r(NULL, " \t\n", &save))
			for (int i = 0; i < 6; i++)
				if (strcmp(w, want[i]) == 0)
					has[i] = 1;
		cls = has[2] && has[3] && has[4] && has[5] && has[0] && has[1] ? 2
		      : has[0] && has[1]                                       ? 1
									       : 0;
		break; /* the first processor speaks for all */
	}
	fclose(f);
	return cls;
}

/* The class of OpenBLAS core type `name` (as openblas_get_corename() spells it). */
static int core_class(const char *name)
{
	static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
	static const char *const avx2[] = {"haswell", "zen", "skylake"};
	for (size_t i = 0; i < sizeof(avx512) / sizeof(avx512[0]); i++)
		if (strcasecmp(name, avx512[i]) == 0)
			return 2;
	for (size_t i = 0; i < sizeof(avx2) / sizeof(avx2[0]); i++)
		if (strcasecmp(name, avx2[i]) == 0)
			return 1;
	return 0;
}

static char openblas_note[256];

/* Names the environment variable that carries the first image's findings across the exec. */
#define DETECTED_ENV "HPC_BENCH_OPENBLAS_DETECTED"

static const char *const class_flags[3] = {"neither AVX2+FMA nor AVX-512", "AVX2 and FMA",
					   "AVX-512F/BW/DQ/VL"};

/* Returns whether the environment changed and the program must start again. */
static int openblas_prepare(void)
{
	typedef char *(*corename_fn)(void);
	corename_fn corename = (corename_fn)dlsym(RTLD_DEFAULT, "openblas_get_corename");
	if (!corename)
		return 0; /* not linked with OpenBLAS */
	const char *after_exec = getenv(DETECTED_ENV);
	const int cls = cpu_blas_class();
	const char *now = corename();
	if (after_exec) {
		/* The second image: OpenBLAS has read the variable; keep it from everything else.
		 */
		const char *asked = getenv("OPENBLAS_CORETYPE");
		snprintf(openblas_note, sizeof(openblas_note),
			 "%s (OPENBLAS_CORETYPE=%s set for the reference: detection chose %s; the "
			 "CPU has %s)%s",
			 now, asked ? asked : "?", after_exec, class_flags[cls],
			 asked && strcasecmp(asked, now) != 0 ? "  WARNING: not the core asked for"
							      : "");
		unsetenv("OPENBLAS_CORETYPE");
		unsetenv(DETECTED_ENV);
		return 0;
	}
	if (getenv("OPENBLAS_CORETYPE")) {
		snprintf(openblas_note, sizeof(openblas_note),
			 "%s (OPENBLAS_CORETYPE=%s set by the user; the CPU has %s)", now,
			 getenv("OPENBLAS_CORETYPE"), class_flags[cls]);
		return 0;
	}
	if (core_class(now) >= cls) {
		snprintf(openblas_note, sizeof(openblas_note),
			 "%s (as detected: as good as the CPU's %s allow)", now, class_flags[cls]);
		return 0;
	}
	setenv("OPENBLAS_CORETYPE", cls == 2 ? "SkylakeX" : "Haswell", 1);
	setenv(DETECTED_ENV, now, 1);
	return 1;
}

void bench_prepare_process(char **argv, unsigned flags)
{
	const int ob = (flags & BENCH_OPENBLAS_BEST) && openblas_prepare();
	int again = ob;
	if ((flags & BENCH_OMP_PASSIVE) && !getenv("OMP_WAIT_POLICY")) {
		setenv("OMP_WAIT_POLICY", "passive", 1);
		again = 1;
	}
	if (!again)
		return;
	/* libgomp and OpenBLAS read their environment once, when they are loaded: the
	 * program must start again to see it. */
	execv("/proc/self/exe", argv);
	bench_warn("cannot re-execute with the new environment: %s", strerror(errno));
	if (ob) {
		snprintf(openblas_note, sizeof(openblas_note),
			 "%s (could not re-execute to choose the core %s)", getenv(DETECTED_ENV),
			 getenv("OPENBLAS_CORETYPE"));
		unsetenv("OPENBLAS_CORETYPE");
		unsetenv(DETECTED_ENV);
	}
}

const char *bench_openblas_note(void)
{
	return openblas_note;
}

void bench_omp_wait_like_hpcd(char **argv)
{
	bench_prepare_process(argv, BENCH_OMP_PASSIVE);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_pct_u64(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i];
}

void bench_fill_matvec(double *a, double *x, uint64_t n)
{
	for (uint64_t i = 0; i < n * n; i++)
		a[i] = (double)((i * 2654435761u) % 1000) / 1000.0 - 0.5;
	for (uint64_t i = 0; i < n; i++)
		x[i] = (double)(i % 17) / 17.0;
}

/* ---- the daemon ----------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? errno : 0;
}

/* rm -rf dir, without following links. Returns 0 or a negative errno. */
static int remove_tree(const char *dir)
{
	int rc = nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc == 0 ? 0 : rc > 0 ? -rc : -errno;
}

int bench_daemon_start(struct bench_daemon *d, const char *hpcd, const char *plugin_dir,
		       const char *tmp_prefix, int wait_s, const char *fmt, ...)
{
	char cfg[sizeof(d->dir) + 16], buf[256];
	int rc;

	d->pid = -1;
	d->err[0] = 0;
	if ((size_t)snprintf(d->dir, sizeof(d->dir), "%sXXXXXX", tmp_prefix) >= sizeof(d->dir)) {
		d->dir[0] = 0;
		snprintf(d->err, sizeof(d->err), "temporary folder name too long: %s", tmp_prefix);
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(d->dir)) {
		rc = -errno;
		d->dir[0] = 0;
		snprintf(d->err, sizeof(d->err), "mkdtemp: %s", strerror(-rc));
		return rc;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/hpcd.sock", d->dir);
	snprintf(cfg, sizeof(cfg), "%s/bench.ini", d->dir);

	FILE *f = fopen(cfg, "w");
	if (!f) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot write %s", cfg);
		goto fail;
	}
	fprintf(f, "[daemon]\nsocket = %s\nplugin_dir = %s\nlog_level = warn\n", d->sock,
		plugin_dir);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot write %s", cfg);
		goto fail;
	}

	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "fork: %s", strerror(-rc));
		goto fail;
	}
	if (pid == 0) {
		execl(hpcd, hpcd, "-c", cfg, (char *)NULL);
		bench_warn("cannot run %s: %s", hpcd, strerror(errno));
		_exit(127);
	}
	/* Every 10 ms; a daemon that exits meanwhile (a bad config) ends the wait early. */
	for (int i = 0; i < wait_s * 100; i++) {
		if (hpc_control(d->sock, HPC_CTL_STATUS, buf, sizeof(buf)) == 0) {
			d->pid = pid;
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			rc = -ECHILD;
			snprintf(d->err, sizeof(d->err), "the daemon exited during start-up (%s)",
				 hpcd);
			goto fail;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rc = -ETIMEDOUT;
	snprintf(d->err, sizeof(d->err), "the daemon did not come up (%s)", hpcd);
fail:
	remove_tree(d->dir);
	d->dir[0] = 0;
	return rc;
}

int bench_daemon_stop(struct bench_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, NULL, 0);
		d->pid = -1;
	}
	return d->dir[0] ? remove_tree(d->dir) : 0;
}

/* ---- plugins in-process ------------------------------------------------------------------- */

static void quiet_log(const struct hpc_host *h, int level, const char *fmt, ...)
{
}

/* Static: a plugin may keep the host pointer for as long as its instance lives. */
static const struct hpc_host quiet_host = {
    .abi_version = HPC_PLUGIN_ABI_VERSION,
    .size = sizeof(quiet_host),
    .log = quiet_log,
};

int bench_plugin_load(struct bench_plugin *p, const char *dir, const char *name, char *err,
		      size_t errlen)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/libhpc_%s.so", dir, name);
	p->ops = NULL;
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		int rc = access(path, R_OK) < 0 ? -errno : -ELIBBAD;
		snprintf(err, errlen, "%s", dlerror());
		return rc;
	}
	hpc_plugin_entry_fn entry = (hpc_plugin_entry_fn)dlsym(p->dl, HPC_PLUGIN_ENTRY_NAME);
	if (!entry) {
		snprintf(err, errlen, "%s: no %s", path, HPC_PLUGIN_ENTRY_NAME);
		dlclose(p->dl);
		p->dl = NULL;
		return -ELIBBAD;
	}
	p->ops = entry();
	return 0;
}

int bench_plugin_open(const struct bench_plugin *p, const char *instance, void **state, char *err,
		      size_t errlen, ...)
{
	struct hpc_setting s[8];
	uint32_t n = 0;
	const char *key;
	va_list ap;

	va_start(ap, errlen);
	while ((key = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		if (!value)
			continue;
		if (n == sizeof(s) / sizeof(s[0])) {
			va_end(ap);
			snprintf(err, errlen, "more than %u settings", n);
			return -E2BIG;
		}
		s[n] = (struct hpc_setting){.key = key, .value = value, .line = n + 1};
		n++;
	}
	va_end(ap);

	err[0] = 0;
	struct hpc_open_args args = {
	    .abi_version = HPC_PLUGIN_ABI_VERSION,
	    .size = sizeof(args),
	    .instance = instance,
	    .config_dir = ".",
	    .settings = n ? s : NULL,
	    .nsettings = n,
	    .host = &quiet_host,
	    .err = err,
	    .err_len = errlen,
	    .err_setting = -1,
	};
	int rc = p->ops->open(&args, state);
	if (rc == 0)
		return 0;
	if (rc > 0)
		rc = -EIO; /* not a plugin's answer: open() returns 0 or a negative errno */
	if (!err[0])
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

void bench_plugin_unload(struct bench_plugin *p)
{
	if (p->dl)
		dlclose(p->dl);
	p->dl = NULL;
	p->ops = NULL;
}

void bench_loadavg(char *buf, size_t len)
{
	snprintf(buf, len, "?");
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

/* ---- options ------------------------------------------------------------------------- */

static void usage_line(FILE *f, const struct bench_arg *args)
{
	fprintf(f, "usage: %s", program_invocation_short_name);
	for (const struct bench_arg *a = args; a->name; a++)
		fprintf(f, a->kind == BENCH_ARG_FLAG ? " [--%s]" : " [--%s %s]", a->name,
			a->meta ? a->meta : "VALUE");
	fputc('\n', f);
}

static __attribute__((noreturn)) void bad_usage(const struct bench_arg *args, const char *why,
						const char *what)
{
	if (why)
		bench_warn("%s %s", why, what);
	usage_line(stderr, args);
	exit(2);
}

void bench_parse_args(int argc, char **argv, const struct bench_arg *args)
{
	enum { MAX_ARGS = 31 };
	struct option opts[MAX_ARGS + 2];
	int n = 0;
	for (; args[n].name; n++) {
		if (n == MAX_ARGS)
			bench_die("more than %d options in one table", MAX_ARGS);
		opts[n] = (struct option){
		    args[n].name, args[n].kind == BENCH_ARG_FLAG ? no_argument : required_argument,
		    NULL, n};
	}
	opts[n] = (struct option){"help", no_argument, NULL, n};
	opts[n + 1] = (struct option){NULL, 0, NULL, 0};
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == n) {
			usage_line(stdout, args);
			exit(0);
		}
		if (o < 0 || o > n)
			bad_usage(args, NULL, NULL);
		const struct bench_arg *a = &args[o];
		if (a->kind == BENCH_ARG_STR) {
			*(const char **)a->dst = optarg;
			continue;
		}
		if (a->kind == BENCH_ARG_FLAG) {
			*(int *)a->dst = 1;
			continue;
		}
		char *end;
		errno = 0;
		long long v = strtoll(optarg, &end, 10);
		if (errno || end == optarg || *end || v < a->min || v > a->max) {
			char range[96];
			snprintf(range, sizeof(range), "%s (--%s takes %lld to %lld)", optarg,
				 a->name, a->min, a->max);
			bad_usage(args, "bad value", range);
		}
		if (a->kind == BENCH_ARG_INT)
			*(int *)a->dst = (int)v;
		else
			*(uint64_t *)a->dst = (uint64_t)v;
	}
	if (optind != argc)
		bad_usage(args, "unexpected argument", argv[optind]);
}

void bench_plugin_dir(const char *plugins, char *out)
{
	if (!realpath(plugins, out))
		bench_die("no plugin folder %s: %s", plugins, strerror(errno));
}

/* ---- jobs ------------------------------------------------------------------------------ */

double bench_run_ms(struct hpc_client *c, const struct hpc_request *r)
{
	struct hpc_completion done;
	uint64_t t0 = bench_now_ns();
	int rc = hpc_run(c, r, &done);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc != 0)
		bench_die("%s %s failed: %s", r->backend ? r->backend : "default",
			  hpc_op_name(r->op) ? hpc_op_name(r->op) : "job",
			  hpc_strerror(rc, done.detail));
	return ms;
}

void bench_matvec_open(struct bench_matvec *mv, const char *sock, uint64_t n)
{
	int rc = hpc_connect(sock, n * n * 8 + 4 * n * 8 + (1 << 20), &mv->c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	mv->n = n;
	mv->a = hpc_alloc(mv->c, n * n * 8);
	mv->x = hpc_alloc(mv->c, n * 8);
	mv->y = hpc_alloc(mv->c, n * 8);
	if (!mv->a || !mv->x || !mv->y)
		bench_die("arena too small for a %llu x %llu matvec", (unsigned long long)n,
			  (unsigned long long)n);
	bench_fill_matvec(mv->a, mv->x, n);
}

void bench_matvec_close(struct bench_matvec *mv)
{
	hpc_close(mv->c);
	mv->c = NULL;
}

void bench_gen_first(struct hpc_client *c, struct hpc_request *r, int firsts, double *t,
		     double *cold, double *first)
{
	static uint64_t gen = 1;
	r->a_gen = ++gen;
	*cold = bench_run_ms(c, r);
	for (int i = 0; i < firsts; i++) {
		r->a_gen = ++gen;
		t[i] = bench_run_ms(c, r);
	}
	*first = bench_median(t, firsts);
}

void bench_each_size(const char *sizes, void (*fn)(uint64_t n, void *arg), void *arg)
{
	for (const char *p = sizes; *p;) {
		char *end;
		uint64_t n = strtoull(p, &end, 10);
		if (end == p || n == 0 || (*end && *end != ','))
			bench_die("bad --sizes %s", sizes);
		fn(n, arg);
		p = *end == ',' ? end + 1 : end;
	}
}

void bench_print_header(const char *what, const char *units)
{
	char load[64];
	bench_loadavg(load, sizeof(load));
	printf("hpcd %s: %s, %ld CPUs online, loadavg %s; %s\n", program_invocation_short_name,
	       what, sysconf(_SC_NPROCESSORS_ONLN), load, units);
}
