/*
 * cli/hpcrun.c - the command-line client of hpcd (SPEC "hpcrun").
 *
 * Operands go from their files straight into the shared arena: the files are
 * inspected first, so the arena can be sized before connecting, then each one
 * is read into memory from hpc_alloc(). The result is printed or written from
 * the arena too.
 *
 * Exit status: 0 on success, 1 when something failed (a file, the daemon, the
 * job), 2 for a usage error. Every check that needs neither a file nor the
 * daemon happens before either is touched.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/datafile.h"
#include "timeline/svg.h"
#include "timeline/trace.h"
#include "hpc/client.h"
#include "hpc/ops.h"
#include "hpc/types.h"
#include "hpc/wire.h"

#define EXIT_USAGE 2

/* Room for a message from cli/datafile.h: a path of up to PATH_MAX and a sentence. */
#define ERR_MAX (PATH_MAX + 512)

/* Extra arena beyond the operands, for whatever bookkeeping the allocator keeps. */
#define ARENA_SLACK (1u << 20)
/* Chunk records room for --timeline: far more than any backend makes today. */
#define TIMELINE_RECS 16384u
#define TIMELINE_BYTES ((size_t)TIMELINE_RECS * sizeof(struct hpc_chunk_rec))

static const char short_usage[] =
    "usage: hpcrun [-s SOCKET] [-b BACKEND] [--dtype f32|f64] matvec A x [-o OUT]\n"
    "       hpcrun [-s SOCKET] [-b BACKEND] [--dtype f32|f64] matmul A B [-m M] [-k K] "
    "[-n N] [-o OUT]\n"
    "       hpcrun [-s SOCKET] [-b BACKEND] [--dtype f32|f64] dot x y\n"
    "       hpcrun [-s SOCKET] [-b BACKEND] [--dtype f32|f64] sum x\n"
    "       hpcrun [-s SOCKET] [-b BACKEND] [--dtype f32|f64] axpy ALPHA x y [-o OUT]\n"
    "       hpcrun [-s SOCKET] status | backends | reload | metrics\n"
    "       hpcrun [-s SOCKET] trace --seconds S -o FILE.json|FILE.svg\n";

static const char long_usage[] =
    "\n"
    "commands:\n"
    "  matvec A x      y = A.x; for a raw A, m = size(A) / len(x)\n"
    "  matmul A B      C = A.B; A is m x k, B is k x n; raw files need -m, -k or -n\n"
    "  dot x y         s = x.y\n"
    "  sum x           s = sum of the elements of x\n"
    "  axpy ALPHA x y  y <- ALPHA * x + y\n"
    "  status          the daemon's summary\n"
    "  backends        the backend instances loaded: name, plugin file, ops\n"
    "  reload          ask the daemon to reload its config\n"
    "  metrics         the daemon's counters, in the Prometheus text exposition format\n"
    "  trace           record every job the daemon runs for --seconds S (all clients and\n"
    "                  backends) into -o FILE: Chrome trace-event JSON (.json, for Perfetto\n"
    "                  or chrome://tracing) or an SVG timeline, one row per worker (.svg)\n"
    "\n"
    "options (before or after the command):\n"
    "  -s, --socket SOCKET   the daemon's socket (default: $HPCD_SOCKET, else " HPC_DEFAULT_SOCKET
    ")\n"
    "  -b, --backend NAME    the backend instance to run on (default: the daemon's default)\n"
    "  --dtype f32|f64       element type of raw files (default f64); .npy files carry theirs\n"
    "  -m M, -k K, -n N      shapes for raw files (matmul; matvec checks them)\n"
    "  -o, --output OUT      write the result to OUT: .npy if OUT ends in .npy, raw otherwise\n"
    "  --timeline FILE.svg   draw which worker ran which chunk of the job, and when\n"
    "  --seconds S           how long trace records (a number of seconds, up to 86400)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Files ending in .npy are NumPy files ('<f8' or '<f4', C order); any other file is raw:\n"
    "headerless, row-major, little-endian. Without -o the result is printed as text, a matrix\n"
    "one row per line.\n\nSee hpcrun(1), and hpcd(8) for the daemon.\n";

struct options {
	const char *socket;  /* NULL: libhpc's default ($HPCD_SOCKET, else the built-in path) */
	const char *backend; /* NULL: the daemon's default */
	const char *out;
	const char *timeline; /* --timeline: SVG file for the job's chunk records */
	double seconds;       /* --seconds (trace); 0 = not given */
	uint32_t dtype;
	bool dtype_given;
	uint64_t dim[3]; /* m, k, n from the flags; 0 = not given */
	const char *pos[8];
	int npos;
};

enum { DIM_M, DIM_K, DIM_N };
static const char dim_flag[3] = {'m', 'k', 'n'};

struct command {
	const char *name;
	uint32_t op;          /* HPC_OP_NONE for control requests */
	enum hpc_control ctl; /* control requests only */
	int noperands;        /* positional arguments after the command name */
	bool takes_out;
	unsigned shape_flags; /* bit per DIM_* the command accepts */
	bool trace;           /* the trace command */
};

/* The commands that are not ops; each op of hpc/ops.h is a command too (op_command). */
static const struct command commands[] = {
    {"status", HPC_OP_NONE, HPC_CTL_STATUS, 0, false, 0, false},
    {"backends", HPC_OP_NONE, HPC_CTL_BACKENDS, 0, false, 0, false},
    {"reload", HPC_OP_NONE, HPC_CTL_RELOAD, 0, false, 0, false},
    {"metrics", HPC_OP_NONE, HPC_CTL_METRICS, 0, false, 0, false},
    {"trace", HPC_OP_NONE, 0, 0, true, 0, true},
};

/*
 * The files of a job are its operands that are read (hpc/ops.h), in role
 * order: A and B, then an output that is also read (axpy's y). arg[i] is the
 * role of file i; returns how many.
 */
static int input_args(const struct hpc_op_desc *d, enum hpc_arg arg[HPC_ARG__COUNT])
{
	int n = 0;
	for (int a = 0; a < HPC_ARG__COUNT; a++)
		if (hpc_op_uses(d, (enum hpc_arg)a) && (a != HPC_ARG_OUT || d->out_read))
			arg[n++] = (enum hpc_arg)a;
	return n;
}

/*
 * The command of op `name` from its row of the op table: its files (and
 * ALPHA), whether it writes an array (-o), and the shape flags of its matrix
 * operands, which raw files need. Returns false for a name that is no op.
 */
static bool op_command(const char *name, struct command *out)
{
	for (uint32_t op = HPC_OP_NONE + 1; op < HPC_OP__COUNT; op++) {
		const struct hpc_op_desc *d = hpc_op_desc(op);
		if (strcmp(name, d->name) != 0)
			continue;
		enum hpc_arg arg[HPC_ARG__COUNT];
		static const uint8_t flag_dim[3] = {
		    [DIM_M] = HPC_DIM_M, [DIM_K] = HPC_DIM_K, [DIM_N] = HPC_DIM_N};
		bool matrix = false;
		for (int a = 0; a < HPC_ARG__COUNT; a++)
			matrix |= hpc_op_uses(d, (enum hpc_arg)a) &&
				  d->extent[a][0] != HPC_DIM_ONE && d->extent[a][1] != HPC_DIM_ONE;
		*out = (struct command){.name = d->name,
					.op = op,
					.noperands = input_args(d, arg) + (d->uses_alpha ? 1 : 0),
					.takes_out = hpc_op_uses(d, HPC_ARG_OUT)};
		for (int f = 0; f < 3; f++)
			if (matrix && (d->dims & HPC_DIM_BIT(flag_dim[f])))
				out->shape_flags |= 1u << f;
		return true;
	}
	return false;
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("hpcrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%sTry 'hpcrun --help' for more.\n", short_usage);
	exit(EXIT_USAGE);
}

/* Print "hpcrun: sentence" on stderr; returns EXIT_FAILURE for `return fail(...)`. */
static int __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;
	fputs("hpcrun: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* A positive decimal integer, nothing else: no sign, no spaces, no suffix, no overflow. */
static bool parse_dim(const char *s, uint64_t *out)
{
	return hpccli_parse_u64(s, out) && *out > 0;
}

/* A whole argument that strtod reads as a number (which is how -2.5 tells itself from a flag). */
static bool parse_number(const char *s, double *out)
{
	if (!*s || *s == ' ' || (*s >= '\t' && *s <= '\r'))
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE)
		return false;
	*out = v;
	return true;
}

static bool is_option(const char *arg, const char *shortname, const char *longname,
		      const char **inline_value)
{
	size_t ll = longname ? strlen(longname) : 0;
	*inline_value = NULL;
	if (shortname && strcmp(arg, shortname) == 0)
		return true;
	/* -oOUT, -m4: a short option with its value attached. */
	if (shortname && strncmp(arg, shortname, 2) == 0 && arg[2] != '\0') {
		*inline_value = arg + 2;
		return true;
	}
	if (longname && strcmp(arg, longname) == 0)
		return true;
	if (longname && strncmp(arg, longname, ll) == 0 && arg[ll] == '=') {
		*inline_value = arg + ll + 1;
		return true;
	}
	return false;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct {
		const char *shortname, *longname;
	} valued[] = {
	    {"-s", "--socket"}, {"-b", "--backend"},  {"-o", "--output"},
	    {NULL, "--dtype"},  {"-m", NULL},         {"-k", NULL},
	    {"-n", NULL},       {NULL, "--timeline"}, {NULL, "--seconds"},
	};
	bool only_positional = false;

	memset(o, 0, sizeof(*o));
	o->dtype = HPC_F64;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		double num;
		if (only_positional || arg[0] != '-' || arg[1] == '\0' || parse_number(arg, &num)) {
			if (o->npos == (int)(sizeof(o->pos) / sizeof(o->pos[0])))
				usage_error("too many arguments");
			o->pos[o->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(short_usage, stdout);
			fputs(long_usage, stdout);
			exit(EXIT_SUCCESS);
		}
		size_t which;
		const char *val = NULL;
		for (which = 0; which < sizeof(valued) / sizeof(valued[0]); which++)
			if (is_option(arg, valued[which].shortname, valued[which].longname, &val))
				break;
		if (which == sizeof(valued) / sizeof(valued[0]))
			usage_error("unknown option '%s'", arg);
		const char *name =
		    valued[which].shortname ? valued[which].shortname : valued[which].longname;
		if (!val) {
			if (i + 1 == argc)
				usage_error("option %s needs a value", name);
			val = argv[++i];
		}
		switch (which) {
		case 0:
			if (!*val)
				usage_error("option -s needs a socket path");
			o->socket = val;
			break;
		case 1:
			if (!*val)
				usage_error("option -b needs a backend name");
			if (strlen(val) > HPC_BACKEND_NAME_MAX)
				usage_error("backend name '%s' is longer than %d characters", val,
					    HPC_BACKEND_NAME_MAX);
			o->backend = val;
			break;
		case 2:
			if (!*val)
				usage_error("option -o needs a file name");
			o->out = val;
			break;
		case 3:
			if (strcmp(val, "f64") == 0)
				o->dtype = HPC_F64;
			else if (strcmp(val, "f32") == 0)
				o->dtype = HPC_F32;
			else
				usage_error("--dtype must be f32 or f64, not '%s'", val);
			o->dtype_given = true;
			break;
		case 7:
			if (!*val)
				usage_error("option --timeline needs a file name");
			o->timeline = val;
			break;
		case 8:
			if (!parse_number(val, &o->seconds) || !(o->seconds > 0) ||
			    o->seconds > 86400)
				usage_error("--seconds needs a number of seconds above 0 and up to "
					    "86400, not '%s'",
					    val);
			break;
		default:
			if (!parse_dim(val, &o->dim[which - 4]))
				usage_error("%s needs a positive whole number, not '%s'", name,
					    val);
			break;
		}
	}
}

/* ---- Operands ------------------------------------------------------------- */

struct operand {
	const char *role; /* "A", "x", ... as the usage names it */
	struct hpc_df_file f;
	void *mem; /* in the arena */
};

static const char *describe_shape(const struct hpc_df_info *in, char *buf, size_t len)
{
	if (in->ndim == 0)
		snprintf(buf, len, "a 0-D array");
	else if (in->ndim == 1)
		snprintf(buf, len, "a vector of %" PRIu64, in->shape[0]);
	else
		snprintf(buf, len, "a %" PRIu64 " x %" PRIu64 " matrix", in->shape[0],
			 in->shape[1]);
	return buf;
}

/* An operand used as a vector: a raw file, or a 1-D .npy. */
static int need_vector(const char *opname, const struct operand *v)
{
	char b[80];
	if (v->f.info.format == HPC_DF_NPY && v->f.info.ndim != 1)
		return fail("%s: %s needs a vector (1-D) for %s, but the file holds %s", v->f.path,
			    opname, v->role, describe_shape(&v->f.info, b, sizeof(b)));
	return 0;
}

static int need_matrix(const char *opname, const struct operand *a)
{
	char b[80];
	if (a->f.info.format == HPC_DF_NPY && a->f.info.ndim != 2)
		return fail("%s: %s needs a matrix (2-D) for %s, but the file holds %s", a->f.path,
			    opname, a->role, describe_shape(&a->f.info, b, sizeof(b)));
	return 0;
}

/* Every operand must have one element type, and --dtype must not contradict a .npy file. */
static int check_dtypes(const struct options *o, struct operand *ops, int n)
{
	for (int i = 0; i < n; i++) {
		const struct hpc_df_info *in = &ops[i].f.info;
		if (in->format == HPC_DF_NPY && o->dtype_given && in->dtype != o->dtype)
			return fail("%s holds %s values but --dtype %s was given", ops[i].f.path,
				    hpc_dtype_name(in->dtype), hpc_dtype_name(o->dtype));
	}
	for (int i = 1; i < n; i++) {
		const struct operand *p = &ops[0], *q = &ops[i];
		if (p->f.info.dtype == q->f.info.dtype)
			continue;
		/* Name the raw one first: its type came from the default, which is the likely slip.
		 */
		if (q->f.info.format == HPC_DF_RAW) {
			const struct operand *t = p;
			p = q;
			q = t;
		}
		if (p->f.info.format == HPC_DF_RAW)
			return fail("%s is read as %s (raw files are f64 unless --dtype f32 is "
				    "given) but %s holds %s values; both operands must have the "
				    "same element type",
				    p->f.path, hpc_dtype_name(p->f.info.dtype), q->f.path,
				    hpc_dtype_name(q->f.info.dtype));
		return fail("%s holds %s values but %s holds %s; both operands must have the "
			    "same element type",
			    p->f.path, hpc_dtype_name(p->f.info.dtype), q->f.path,
			    hpc_dtype_name(q->f.info.dtype));
	}
	for (int i = 0; i < n; i++)
		if (ops[i].f.info.count == 0)
			return fail("%s holds no values", ops[i].f.path);
	return 0;
}

/* One of m, k, n and where its value came from, for messages. */
struct dimval {
	uint64_t v;      /* 0 = unknown */
	const char *src; /* a flag ("-m") or a file name, borrowed */
	bool from_size;  /* derived from the size of the file src */
};

static int set_dim(struct dimval *d, char name, uint64_t v, const char *src, bool from_size)
{
	if (d->v && d->v != v)
		return fail("the shapes do not fit: %s%s gives %c = %" PRIu64
			    " but %s%s gives %c = "
			    "%" PRIu64,
			    d->from_size ? "the size of " : "", d->src, name, d->v,
			    from_size ? "the size of " : "", src, name, v);
	if (!d->v) {
		d->v = v;
		d->src = src;
		d->from_size = from_size;
	}
	return 0;
}

/*
 * For a raw matrix operand holding count values, derive the unknown one of
 * (rows, cols) from the known one.
 */
static int derive(const struct operand *x, struct dimval *rows, char rname, struct dimval *cols,
		  char cname)
{
	uint64_t count = x->f.info.count;
	if (x->f.info.format != HPC_DF_RAW || (rows->v && cols->v) || (!rows->v && !cols->v))
		return 0;
	struct dimval *known = rows->v ? rows : cols, *unknown = rows->v ? cols : rows;
	char kname = rows->v ? rname : cname, uname = rows->v ? cname : rname;
	if (count % known->v)
		return fail("%s holds %" PRIu64
			    " %s values, which is not a multiple of %c = %" PRIu64 " (from %s%s)",
			    x->f.path, count, hpc_dtype_name(x->f.info.dtype), kname, known->v,
			    known->from_size ? "the size of " : "", known->src);
	return set_dim(unknown, uname, count / known->v, x->f.path, true);
}

static int check_product(const struct operand *x, uint64_t rows, uint64_t cols)
{
	uint64_t need;
	if (__builtin_mul_overflow(rows, cols, &need) || need != x->f.info.count)
		return fail("%s holds %" PRIu64 " values but its shape %" PRIu64 " x %" PRIu64
			    " needs %s%" PRIu64,
			    x->f.path, x->f.info.count, rows, cols, need == 0 ? "more than " : "",
			    need);
	return 0;
}

static int matmul_shapes(const struct options *o, struct operand *ops, uint64_t *m, uint64_t *k,
			 uint64_t *n)
{
	static const char *const flag_src[3] = {"-m", "-k", "-n"};
	struct dimval d[3];
	int rc;
	memset(d, 0, sizeof(d));
	if ((rc = need_matrix("matmul", &ops[0])) || (rc = need_matrix("matmul", &ops[1])))
		return rc;
	for (int i = 0; i < 3; i++)
		if (o->dim[i] && (rc = set_dim(&d[i], dim_flag[i], o->dim[i], flag_src[i], false)))
			return rc;
	const struct hpc_df_info *a = &ops[0].f.info, *b = &ops[1].f.info;
	if (a->format == HPC_DF_NPY &&
	    ((rc = set_dim(&d[DIM_M], 'm', a->shape[0], ops[0].f.path, false)) ||
	     (rc = set_dim(&d[DIM_K], 'k', a->shape[1], ops[0].f.path, false))))
		return rc;
	if (b->format == HPC_DF_NPY &&
	    ((rc = set_dim(&d[DIM_K], 'k', b->shape[0], ops[1].f.path, false)) ||
	     (rc = set_dim(&d[DIM_N], 'n', b->shape[1], ops[1].f.path, false))))
		return rc;
	/* Two rounds: -m may decide k through A, which then decides n through B. */
	for (int round = 0; round < 2; round++) {
		if ((rc = derive(&ops[0], &d[DIM_M], 'm', &d[DIM_K], 'k')) ||
		    (rc = derive(&ops[1], &d[DIM_K], 'k', &d[DIM_N], 'n')))
			return rc;
	}
	if (!d[DIM_M].v || !d[DIM_K].v || !d[DIM_N].v)
		usage_error("matmul of raw files needs a shape: give -m, -k or -n");
	if ((rc = check_product(&ops[0], d[DIM_M].v, d[DIM_K].v)) ||
	    (rc = check_product(&ops[1], d[DIM_K].v, d[DIM_N].v)))
		return rc;
	*m = d[DIM_M].v;
	*k = d[DIM_K].v;
	*n = d[DIM_N].v;
	return 0;
}

static int matvec_shapes(const struct options *o, struct operand *ops, uint64_t *m, uint64_t *n)
{
	const struct hpc_df_info *a = &ops[0].f.info, *x = &ops[1].f.info;
	int rc;
	if ((rc = need_matrix("matvec", &ops[0])) || (rc = need_vector("matvec", &ops[1])))
		return rc;
	*n = x->count;
	if (a->format == HPC_DF_NPY) {
		if (a->shape[1] != *n)
			return fail("%s is a %" PRIu64 " x %" PRIu64 " matrix but %s has %" PRIu64
				    " elements; matvec needs as many columns as elements",
				    ops[0].f.path, a->shape[0], a->shape[1], ops[1].f.path, *n);
		*m = a->shape[0];
	} else {
		if (a->count % *n)
			return fail(
			    "%s holds %" PRIu64 " %s values, which is not a whole number of "
			    "rows of n = %" PRIu64 " (the length of %s)",
			    ops[0].f.path, a->count, hpc_dtype_name(a->dtype), *n, ops[1].f.path);
		*m = a->count / *n;
	}
	if (o->dim[DIM_M] && o->dim[DIM_M] != *m)
		return fail("-m %" PRIu64 " does not fit: %s and %s give m = %" PRIu64,
			    o->dim[DIM_M], ops[0].f.path, ops[1].f.path, *m);
	if (o->dim[DIM_N] && o->dim[DIM_N] != *n)
		return fail("-n %" PRIu64 " does not fit: %s has n = %" PRIu64 " elements",
			    o->dim[DIM_N], ops[1].f.path, *n);
	return 0;
}

static int same_length(const char *opname, const struct operand *x, const struct operand *y)
{
	int rc;
	if ((rc = need_vector(opname, x)) || (rc = need_vector(opname, y)))
		return rc;
	if (x->f.info.count != y->f.info.count)
		return fail("%s has %" PRIu64 " elements but %s has %" PRIu64
			    "; %s needs vectors of equal length",
			    x->f.path, x->f.info.count, y->f.path, y->f.info.count, opname);
	return 0;
}

/* ---- Output ----------------------------------------------------------------- */

static void print_values(const void *data, uint32_t dtype, uint64_t rows, uint64_t cols)
{
	const double *d = data;
	const float *f = data;
	for (uint64_t r = 0; r < rows; r++) {
		for (uint64_t c = 0; c < cols; c++) {
			uint64_t i = r * cols + c;
			if (c)
				putchar(' ');
			if (dtype == HPC_F64)
				printf("%.17g", d[i]);
			else
				printf("%.9g", (double)f[i]);
		}
		putchar('\n');
	}
}

static int finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return fail("cannot write the result to standard output: %s", strerror(errno));
	return 0;
}

/* ---- Talking to the daemon ------------------------------------------------- */

static const char *socket_path(const struct options *o)
{
	return o->socket ? o->socket : hpc_default_socket();
}

static int connect_failed(const struct options *o, int rc, const char *why)
{
	if (why && *why)
		return fail("hpcd at %s refused the connection: %s", socket_path(o), why);
	bool absent = rc == -ECONNREFUSED || rc == -ENOENT;
	return fail("cannot connect to hpcd at %s: %s%s", socket_path(o), strerror(-rc),
		    absent ? " (is the daemon running?)" : "");
}

static int job_failed(const struct options *o, const struct command *cmd, uint32_t dtype,
		      const struct hpc_completion *done)
{
	const char *why = hpc_strerror(done->status, done->detail);
	switch (done->detail) {
	case HPC_E_NO_BACKEND:
		if (o->backend)
			return fail("no backend named '%s' on the daemon", o->backend);
		return fail("the daemon has no default backend; name one with -b");
	case HPC_E_UNSUPPORTED:
		if (o->backend)
			return fail("backend '%s' does not support %s on %s values", o->backend,
				    cmd->name, hpc_dtype_name(dtype));
		return fail("the default backend does not support %s on %s values", cmd->name,
			    hpc_dtype_name(dtype));
	case HPC_E_BACKEND_FAILED:
		if (o->backend)
			return fail("backend '%s' failed to run %s: %s", o->backend, cmd->name,
				    why);
		return fail("the default backend failed to run %s: %s", cmd->name, why);
	default:
		return fail("%s failed: %s", cmd->name, why);
	}
}

static int control_answer(const struct options *o, const struct command *cmd, int rc, char *text,
			  size_t len);

static int control(const struct options *o, const struct command *cmd)
{
	/* Metrics can be longer than one packet: the whole answer, in pages. */
	char *text;
	size_t len;
	int rc = hpc_control_alloc(o->socket, cmd->ctl, &text, &len);
	int status = control_answer(o, cmd, rc, text ? text : (char[1]){0}, text ? len : 0);
	free(text);
	return status;
}

static int control_answer(const struct options *o, const struct command *cmd, int rc, char *text,
			  size_t len)
{
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	if (rc == 0) {
		if (len)
			puts(text);
		return finish_stdout();
	}
	if (len) /* the daemon answered and said no */
		return fail("%s refused by hpcd: %s", cmd->name, text);
	switch (-rc) {
	case ECONNREFUSED:
	case ENOENT:
	case EACCES:
	case EPERM:
	case ENOTSOCK:
	case ENOTDIR:
	case ENAMETOOLONG:
	case EPROTOTYPE:
		return connect_failed(o, rc, NULL);
	}
	return fail("%s: no answer from hpcd at %s: %s", cmd->name, socket_path(o), strerror(-rc));
}

/* ---- Traces ---------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * hpcrun trace: start a trace, wait here (not in the daemon), stop it, fetch
 * it and write the file. Ctrl-C ends the wait early and still writes what
 * was recorded; the trace is the connection's, so if hpcrun dies the daemon
 * drops it.
 */
static int trace_command(const struct options *o)
{
	size_t n = strlen(o->out);
	bool json = n >= 5 && strcmp(o->out + n - 5, ".json") == 0;
	bool svg = n >= 4 && strcmp(o->out + n - 4, ".svg") == 0;
	if (!json && !svg)
		usage_error("trace writes FILE.json or FILE.svg, not '%s'", o->out);
	char msg[512];
	struct hpc_tracer *t;
	int rc = hpc_trace_start(o->socket, 0, 0, &t, msg, sizeof(msg));
	if (rc < 0) {
		if (*msg)
			return fail("trace refused by hpcd: %s", msg);
		return connect_failed(o, rc, NULL);
	}
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct timespec left = {.tv_sec = (time_t)o->seconds,
				.tv_nsec = (long)((o->seconds - floor(o->seconds)) * 1e9)};
	while (!interrupted && nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	struct hpc_trace tr;
	rc = hpc_trace_stop(t, &tr, msg, sizeof(msg));
	hpc_trace_close(t);
	if (rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -EPIPE)
		return fail("hpcd at %s went away during the trace; nothing was written",
			    socket_path(o));
	if (rc < 0)
		return fail("trace: %s", *msg ? msg : strerror(-rc));
	rc = hpc_trace_write_file(o->out, &tr);
	if (rc < 0) {
		hpc_trace_free(&tr);
		return fail("cannot write the trace %s: %s", o->out, strerror(-rc));
	}
	printf("%llu jobs and %llu chunk records in %.3f s written to %s\n",
	       (unsigned long long)tr.hdr.njobs, (unsigned long long)tr.hdr.nchunks,
	       (double)(tr.hdr.t_stop_ns - tr.hdr.t_start_ns) / 1e9, o->out);
	if (tr.hdr.jobs_dropped || tr.hdr.chunks_dropped)
		fprintf(stderr,
			"hpcrun: the trace had no room for %llu jobs and %llu chunk records; "
			"they are missing\n",
			(unsigned long long)tr.hdr.jobs_dropped,
			(unsigned long long)tr.hdr.chunks_dropped);
	hpc_trace_free(&tr);
	return finish_stdout();
}

/*
 * Draw the job's chunk records. A backend that does not split jobs makes
 * none: the picture then shows the whole job as one bar of the daemon's.
 */
static int write_timeline(const struct options *o, const struct command *cmd,
			  const struct hpc_request *req, const struct hpc_completion *done)
{
	size_t n =
	    done->timeline_count < req->timeline_cap ? done->timeline_count : req->timeline_cap;
	struct hpc_chunk_rec whole = {
	    .attempt = 1,
	    .count = cmd->op == HPC_OP_MATVEC || cmd->op == HPC_OP_MATMUL ? req->m : req->n,
	    .start_ns = done->t_start_ns,
	    .end_ns = done->t_end_ns,
	};
	const struct hpc_chunk_rec *recs = n ? req->timeline : &whole;
	char title[256];
	snprintf(title, sizeof(title), "%s on %s: %zu chunk%s%s, %.3f ms", cmd->name,
		 o->backend ? o->backend : "the default backend", n ? n : 1,
		 n == 1 || !n ? "" : "s", n ? "" : " (the backend does not split jobs)",
		 (double)(done->t_end_ns - done->t_start_ns) / 1e6);
	if (done->timeline_count > req->timeline_cap)
		fprintf(stderr,
			"hpcrun: the job made %u chunk records; the timeline shows the first %u\n",
			done->timeline_count, req->timeline_cap);
	int rc = hpc_timeline_svg_file(o->timeline, recs, n ? n : 1, title);
	if (rc < 0) {
		fail("cannot write the timeline %s: %s", o->timeline, strerror(-rc));
		return -1;
	}
	return 0;
}

static size_t round64(uint64_t v, bool *overflow)
{
	if (v > SIZE_MAX - 63) {
		*overflow = true;
		return 0;
	}
	return (size_t)((v + 63) & ~(uint64_t)63);
}

static int compute(const struct options *o, const struct command *cmd)
{
	const struct hpc_op_desc *d = hpc_op_desc(cmd->op);
	struct operand ops[HPC_ARG__COUNT];
	enum hpc_arg arg[HPC_ARG__COUNT];
	int nops = input_args(d, arg);
	int first = d->uses_alpha ? 2 : 1; /* axpy's ALPHA comes before the files */
	double alpha = 0;
	uint64_t m = 0, n = 0, k = 0;
	int rc, status = EXIT_FAILURE;
	struct hpc_client *c = NULL;

	if (d->uses_alpha && !parse_number(o->pos[1], &alpha))
		usage_error("ALPHA must be a number, not '%s'", o->pos[1]);

	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < nops; i++) {
		ops[i].f.fd = -1;
		ops[i].role = d->arg_names[arg[i]];
	}
	for (int i = 0; i < nops; i++) {
		char err[ERR_MAX];
		if (hpc_df_open(o->pos[first + i], o->dtype, &ops[i].f, err, sizeof(err)) < 0) {
			fail("%s", err);
			goto out;
		}
	}
	if (check_dtypes(o, ops, nops))
		goto out;
	uint32_t dtype = ops[0].f.info.dtype;
	size_t es = hpc_dtype_size(dtype);

	/* Shapes: how each command reads them from its files and flags. */
	switch (cmd->op) {
	case HPC_OP_MATVEC:
		if (matvec_shapes(o, ops, &m, &n))
			goto out;
		break;
	case HPC_OP_MATMUL:
		if (matmul_shapes(o, ops, &m, &k, &n))
			goto out;
		break;
	case HPC_OP_DOT:
	case HPC_OP_AXPY:
		if (same_length(d->name, &ops[0], &ops[1]))
			goto out;
		n = ops[0].f.info.count;
		break;
	case HPC_OP_SUM:
		if (need_vector(d->name, &ops[0]))
			goto out;
		n = ops[0].f.info.count;
		break;
	}

	/* The output's size and shape, from the op table: its extent's dimensions. */
	uint64_t elems[HPC_ARG__COUNT], bytes[HPC_ARG__COUNT];
	if (hpc_op_extents(cmd->op, m, n, k, es, elems, bytes) < 0) {
		fail("the result of %s with m = %" PRIu64 ", n = %" PRIu64 ", k = %" PRIu64
		     " is too large",
		     d->name, m, n, k);
		goto out;
	}
	uint64_t out_shape[2] = {0, 0};
	unsigned out_ndim = 0;
	for (int i = 0; i < 2; i++)
		if (hpc_op_uses(d, HPC_ARG_OUT) && d->extent[HPC_ARG_OUT][i] != HPC_DIM_ONE)
			out_shape[out_ndim++] = hpc_op_dim(d->extent[HPC_ARG_OUT][i], m, n, k);

	/* The arena holds the files and an output that is not also an input. */
	bool ovf = false;
	uint64_t out_bytes = bytes[HPC_ARG_OUT];
	size_t arena = ARENA_SLACK;
	for (int i = 0; i < nops; i++)
		if (__builtin_add_overflow(arena, round64(ops[i].f.info.data_bytes, &ovf), &arena))
			ovf = true;
	bool separate_out = hpc_op_uses(d, HPC_ARG_OUT) && !d->out_read;
	if (separate_out && __builtin_add_overflow(arena, round64(out_bytes, &ovf), &arena))
		ovf = true;
	if (o->timeline && __builtin_add_overflow(arena, TIMELINE_BYTES, &arena))
		ovf = true;
	if (ovf) {
		fail("the operands are too large to map");
		goto out;
	}

	char refusal[HPC_REFUSAL_MAX + 1];
	struct hpc_connect_opts copts = {.err = refusal, .err_len = sizeof(refusal)};
	rc = hpc_connect_opts(o->socket, arena, &copts, &c);
	if (rc < 0) {
		c = NULL;
		connect_failed(o, rc, refusal);
		goto out;
	}
	for (int i = 0; i < nops; i++) {
		char err[ERR_MAX];
		ops[i].mem = hpc_alloc(c, (size_t)ops[i].f.info.data_bytes);
		if (!ops[i].mem) {
			fail("the shared arena of %zu bytes has no room for %s (%" PRIu64 " bytes)",
			     arena, ops[i].f.path, ops[i].f.info.data_bytes);
			goto out;
		}
		if (hpc_df_read(&ops[i].f, ops[i].mem, (size_t)ops[i].f.info.data_bytes, err,
				sizeof(err)) < 0) {
			fail("%s", err);
			goto out;
		}
		hpc_df_close(&ops[i].f);
	}
	/* Each operand's memory by role: the files', and a separate output. */
	void *mem[HPC_ARG__COUNT] = {NULL, NULL, NULL};
	for (int i = 0; i < nops; i++)
		mem[arg[i]] = ops[i].mem;
	if (separate_out) {
		mem[HPC_ARG_OUT] = hpc_alloc(c, (size_t)out_bytes);
		if (!mem[HPC_ARG_OUT]) {
			fail("the shared arena of %zu bytes has no room for the result (%" PRIu64
			     " bytes)",
			     arena, out_bytes);
			goto out;
		}
	}
	void *result = mem[HPC_ARG_OUT];

	struct hpc_request req;
	memset(&req, 0, sizeof(req));
	req.op = cmd->op;
	req.dtype = dtype;
	req.m = m;
	req.n = n;
	req.k = k;
	req.a = mem[HPC_ARG_A];
	req.b = mem[HPC_ARG_B];
	req.out = result;
	req.alpha = alpha;
	req.backend = o->backend;
	if (o->timeline) {
		req.timeline = hpc_alloc(c, TIMELINE_BYTES);
		req.timeline_cap = req.timeline ? TIMELINE_RECS : 0;
	}
	/* Tells a completion that came back from one hpc_run() never filled in. */
	req.user_data = 0x68706372756e2121ull;

	struct hpc_completion done;
	memset(&done, 0, sizeof(done));
	rc = hpc_run(c, &req, &done);
	if (rc < 0 || done.status < 0) {
		if (done.user_data == req.user_data && done.status < 0)
			job_failed(o, cmd, dtype, &done);
		else if (rc == -EPIPE)
			fail("hpcd at %s closed the connection before answering (did it stop?)",
			     socket_path(o));
		else
			fail("cannot run %s: %s", cmd->name, strerror(-rc));
		goto out;
	}

	if (o->timeline && write_timeline(o, cmd, &req, &done) < 0)
		goto out;
	if (d->scalar) {
		if (dtype == HPC_F64)
			printf("%.17g\n", done.result);
		else
			printf("%.9g\n", (double)(float)done.result);
		status = finish_stdout();
	} else if (o->out) {
		char err[ERR_MAX];
		if (hpc_df_write(o->out, hpc_df_format_of(o->out), dtype, out_ndim, out_shape,
				 result, err, sizeof(err)) < 0)
			fail("%s", err);
		else
			status = EXIT_SUCCESS;
	} else {
		print_values(result, dtype, out_shape[0], out_ndim == 2 ? out_shape[1] : 1);
		status = finish_stdout();
	}
out:
	for (int i = 0; i < nops; i++)
		hpc_df_close(&ops[i].f);
	if (c)
		hpc_close(c);
	return status;
}

int main(int argc, char **argv)
{
	struct options o;
	parse_args(argc, argv, &o);
	if (o.npos == 0)
		usage_error("no command given");

	struct command opcmd;
	const struct command *cmd = op_command(o.pos[0], &opcmd) ? &opcmd : NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(o.pos[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd)
		usage_error("unknown command '%s'", o.pos[0]);
	if (o.npos - 1 < cmd->noperands)
		usage_error("%s needs %d operand%s", cmd->name, cmd->noperands,
			    cmd->noperands == 1 ? "" : "s");
	if (o.npos - 1 > cmd->noperands)
		usage_error("too many arguments for %s: '%s'", cmd->name,
			    o.pos[cmd->noperands + 1]);
	if (o.out && !cmd->takes_out)
		usage_error("%s does not take -o", cmd->name);
	if (o.timeline && cmd->op == HPC_OP_NONE)
		usage_error("%s does not take --timeline", cmd->name);
	if (o.seconds > 0 && !cmd->trace)
		usage_error("%s does not take --seconds", cmd->name);
	if (cmd->trace && !(o.seconds > 0))
		usage_error("trace needs --seconds S");
	if (cmd->trace && !o.out)
		usage_error("trace needs -o FILE.json or -o FILE.svg");
	for (int i = 0; i < 3; i++)
		if (o.dim[i] && !(cmd->shape_flags & (1u << i)))
			usage_error("%s does not take -%c", cmd->name, dim_flag[i]);

	if (cmd->trace)
		return trace_command(&o);
	if (cmd->op == HPC_OP_NONE)
		return control(&o, cmd);
	/* Results can be millions of lines. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	return compute(&o, cmd);
}
