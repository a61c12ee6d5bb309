/*
 * cli/hpcgen.c - writes a matrix or vector of pseudo-random values, for the
 * quick start and the tests:
 *
 *   hpcgen [--dtype f32|f64] [--seed S] [--range LO HI] ROWS [COLS] OUT
 *
 * Values are uniform in [LO, HI) (default [-1, 1)) from splitmix64, so the
 * same arguments always give the same bytes on every machine. OUT is .npy
 * when it ends in .npy, raw otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/datafile.h"
#include "hpc/types.h"

#define EXIT_USAGE 2

/* Room for a message from cli/datafile.h: a path of up to PATH_MAX and a sentence. */
#define ERR_MAX (PATH_MAX + 512)
#define DEFAULT_SEED 42

static const char usage_text[] =
    "usage: hpcgen [--dtype f32|f64] [--seed S] [--range LO HI] ROWS [COLS] OUT\n";

static const char help_text[] =
    "\n"
    "Writes a ROWS x COLS matrix (or, without COLS, a vector of ROWS) of pseudo-random\n"
    "values, uniform in [LO, HI) (default [-1, 1)), to OUT: .npy when OUT ends in .npy,\n"
    "raw (headerless, little-endian, row-major) otherwise. The same seed (default 42)\n"
    "always gives the same values.\n"
    "\n"
    "  --dtype f32|f64   element type (default f64)\n"
    "  --seed S          seed of the generator (an unsigned 64-bit integer)\n"
    "  --range LO HI     bounds of the values\n"
    "  -h, --help        show this help\n";

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("hpcgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%sTry 'hpcgen --help' for more.\n", usage_text);
	exit(EXIT_USAGE);
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and every seed is a good one. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	if (!*s || *s == ' ' || (*s >= '\t' && *s <= '\r'))
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !*end && errno != ERANGE && isfinite(*out);
}

int main(int argc, char **argv)
{
	uint32_t dtype = HPC_F64;
	uint64_t seed = DEFAULT_SEED;
	double lo = -1.0, hi = 1.0;
	const char *pos[3];
	int npos = 0;
	bool only_positional = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			if (npos == 3)
				usage_error("too many arguments");
			pos[npos++] = a;
		} else if (strcmp(a, "--") == 0) {
			only_positional = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return 0;
		} else if (strcmp(a, "--dtype") == 0) {
			if (i + 1 == argc)
				usage_error("--dtype needs a value");
			const char *v = argv[++i];
			if (strcmp(v, "f64") == 0)
				dtype = HPC_F64;
			else if (strcmp(v, "f32") == 0)
				dtype = HPC_F32;
			else
				usage_error("--dtype must be f32 or f64, not '%s'", v);
		} else if (strcmp(a, "--seed") == 0) {
			if (i + 1 == argc || !hpccli_parse_u64(argv[i + 1], &seed))
				usage_error("--seed needs an unsigned whole number");
			i++;
		} else if (strcmp(a, "--range") == 0) {
			/* Taken as values even when they start with '-': --range -1 1. */
			if (i + 2 >= argc || !parse_double(argv[i + 1], &lo) ||
			    !parse_double(argv[i + 2], &hi))
				usage_error("--range needs two finite numbers LO HI");
			if (!(lo < hi))
				usage_error("--range needs LO < HI");
			i += 2;
		} else {
			usage_error("unknown option '%s'", a);
		}
	}
	if (npos < 2)
		usage_error("ROWS and OUT are required");

	uint64_t shape[2];
	unsigned ndim = (unsigned)npos - 1;
	for (unsigned d = 0; d < ndim; d++)
		if (!hpccli_parse_u64(pos[d], &shape[d]) || shape[d] == 0)
			usage_error("%s must be a positive whole number, not '%s'",
				    d == 0 ? "ROWS" : "COLS", pos[d]);
	const char *out = pos[npos - 1];

	size_t es = hpc_dtype_size(dtype);
	uint64_t count = shape[0], bytes;
	if ((ndim == 2 && __builtin_mul_overflow(count, shape[1], &count)) ||
	    __builtin_mul_overflow(count, (uint64_t)es, &bytes) || bytes > SIZE_MAX) {
		fprintf(stderr, "hpcgen: %s: the array is too large\n", out);
		return 1;
	}
	void *data = malloc(bytes ? (size_t)bytes : 1);
	if (!data) {
		fprintf(stderr, "hpcgen: %s: not enough memory for %" PRIu64 " bytes\n", out,
			bytes);
		return 1;
	}

	uint64_t state = seed;
	double width = hi - lo;
	for (uint64_t i = 0; i < count; i++) {
		/* 53 random bits give a double in [0, 1) with every value equally likely. */
		double u = (double)(splitmix64(&state) >> 11) * 0x1p-53;
		double v = lo + width * u;
		if (v >= hi) /* rounding at the top end */
			v = nextafter(hi, lo);
		if (dtype == HPC_F64) {
			((double *)data)[i] = v;
		} else {
			float fv = (float)v;
			if (fv >= (float)hi || fv < (float)lo)
				fv = fv >= (float)hi ? nextafterf((float)hi, (float)lo) : (float)lo;
			((float *)data)[i] = fv;
		}
	}

	char err[ERR_MAX];
	int rc =
	    hpc_df_write(out, hpc_df_format_of(out), dtype, ndim, shape, data, err, sizeof(err));
	free(data);
	if (rc < 0) {
		fprintf(stderr, "hpcgen: %s\n", err);
		return 1;
	}
	return 0;
}
