/*
 * cli/datafile.c - reading and writing .npy and raw operand files.
 *
 * The .npy format (numpy/lib/format.py): the magic "\x93NUMPY", a major and a
 * minor version byte, the header length (uint16 LE in 1.0, uint32 LE in 2.0
 * and 3.0), then the header, a Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a final '\n', then the data.
 */
#include "cli/datafile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "datafile.c reads and writes little-endian data in place: a little-endian host is required"
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Most dimensions a shape may list before we stop parsing (only 0..2 are accepted). */
#define NPY_PARSE_DIMS 32

static hpc_df_write_fn write_fn;

void hpc_df_set_write_fn(hpc_df_write_fn fn)
{
	write_fn = fn;
}

/* Put "PATH: sentence" into err and return rc, so that error paths stay one line. */
static int __attribute__((format(printf, 5, 6)))
fail(char *err, size_t errlen, int rc, const char *path, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return rc;
	int n = snprintf(err, errlen, "%s: ", path ? path : "(null)");
	if (n < 0 || (size_t)n >= errlen)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

enum hpc_df_format hpc_df_format_of(const char *path)
{
	size_t len = path ? strlen(path) : 0;
	if (len >= 4 && strcmp(path + len - 4, ".npy") == 0)
		return HPC_DF_NPY;
	return HPC_DF_RAW;
}

/* Read exactly len bytes at off; returns bytes read (less only at end of file) or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write_fn ? write_fn(fd, (const char *)buf + done, len - done)
				     : write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A regular file that accepts nothing would make us spin forever. */
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* "(2, 3)", "(3,)" or "()": the shape as numpy prints it, for messages and headers. */
static void format_shape(char *buf, size_t len, unsigned ndim, const uint64_t *shape)
{
	if (ndim == 0)
		snprintf(buf, len, "()");
	else if (ndim == 1)
		snprintf(buf, len, "(%" PRIu64 ",)", shape[0]);
	else
		snprintf(buf, len, "(%" PRIu64 ", %" PRIu64 ")", shape[0], shape[1]);
}

/* ---- .npy header parsing ------------------------------------------------ */

struct npy_parser {
	const char *p, *end;
	const char *path;
	char *err;
	size_t errlen;
};

struct npy_header {
	char descr[32];
	bool descr_truncated;
	bool fortran_order;
	unsigned ndim; /* may exceed 2 here; refused by the caller with the shape in hand */
	uint64_t shape[NPY_PARSE_DIMS];
	unsigned seen; /* bit per key: 1 descr, 2 fortran_order, 4 shape */
};

#define KEY_DESCR 1u
#define KEY_FORTRAN 2u
#define KEY_SHAPE 4u

static int __attribute__((format(printf, 2, 3)))
malformed(struct npy_parser *ps, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(ps->err, ps->errlen, -EINVAL, ps->path, "malformed .npy header: %s", what);
}

static void skip_ws(struct npy_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
				   *ps->p == '\r' || *ps->p == '\f' || *ps->p == '\v'))
		ps->p++;
}

static bool peek(struct npy_parser *ps, char c)
{
	return ps->p < ps->end && *ps->p == c;
}

/* Describe the next character for "expected X but found Y" messages. */
static const char *found(struct npy_parser *ps, char *buf, size_t len)
{
	if (ps->p >= ps->end)
		return "the end of the header";
	unsigned char c = (unsigned char)*ps->p;
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else
		snprintf(buf, len, "byte 0x%02x", c);
	return buf;
}

static int expect(struct npy_parser *ps, char c, const char *what)
{
	char b[16];
	skip_ws(ps);
	if (!peek(ps, c))
		return malformed(ps, "expected %s but found %s", what, found(ps, b, sizeof(b)));
	ps->p++;
	return 0;
}

/*
 * A Python string literal in single or double quotes. Escapes are taken
 * literally (the next byte is the character): no dtype we accept has any, and
 * those we refuse only need to be named in a message.
 */
static int parse_string(struct npy_parser *ps, char *out, size_t outlen, bool *truncated)
{
	char b[16];
	skip_ws(ps);
	if (!peek(ps, '\'') && !peek(ps, '"'))
		return malformed(ps, "expected a quoted string but found %s",
				 found(ps, b, sizeof(b)));
	char q = *ps->p++;
	size_t n = 0;
	*truncated = false;
	for (;;) {
		if (ps->p >= ps->end || *ps->p == '\n')
			return malformed(ps, "unterminated string");
		char c = *ps->p++;
		if (c == q)
			break;
		if (c == '\\') {
			if (ps->p >= ps->end)
				return malformed(ps, "unterminated string");
			c = *ps->p++;
		}
		if (n + 1 < outlen)
			out[n++] = c;
		else
			*truncated = true;
	}
	out[n] = '\0';
	return 0;
}

/* A bare word such as True or False. */
static size_t word_len(struct npy_parser *ps)
{
	size_t n = 0;
	while (ps->p + n < ps->end &&
	       ((ps->p[n] >= 'A' && ps->p[n] <= 'Z') || (ps->p[n] >= 'a' && ps->p[n] <= 'z') ||
		(ps->p[n] >= '0' && ps->p[n] <= '9') || ps->p[n] == '_'))
		n++;
	return n;
}

static int parse_bool(struct npy_parser *ps, bool *out)
{
	skip_ws(ps);
	size_t n = word_len(ps);
	if (n == 4 && memcmp(ps->p, "True", 4) == 0)
		*out = true;
	else if (n == 5 && memcmp(ps->p, "False", 5) == 0)
		*out = false;
	else
		return malformed(ps, "'fortran_order' must be True or False, not '%.*s'",
				 (int)(n ? n : 1), ps->p < ps->end ? ps->p : "?");
	ps->p += n;
	return 0;
}

/* A non-negative Python int that fits an int64 (numpy's intp), with Python 2's L suffix. */
static int parse_dim(struct npy_parser *ps, uint64_t *out)
{
	char b[16];
	skip_ws(ps);
	if (peek(ps, '-'))
		return fail(ps->err, ps->errlen, -EINVAL, ps->path,
			    "bad .npy header: negative dimension in 'shape'");
	if (peek(ps, '+'))
		ps->p++;
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return malformed(ps, "expected a dimension in 'shape' but found %s",
				 found(ps, b, sizeof(b)));
	uint64_t v = 0;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		uint64_t d = (uint64_t)(*ps->p - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return fail(ps->err, ps->errlen, -EOVERFLOW, ps->path,
				    "bad .npy header: a dimension in 'shape' is too large");
		v = v * 10 + d;
		ps->p++;
	}
	if (peek(ps, 'L') || peek(ps, 'l'))
		ps->p++;
	*out = v;
	return 0;
}

/* A tuple of dims: (), (3,), (2, 3), (2,3,). (3) is an int in Python, so it is refused. */
static int parse_shape(struct npy_parser *ps, struct npy_header *h)
{
	char b[16];
	int rc = expect(ps, '(', "'(' to start the 'shape' tuple");
	if (rc)
		return rc;
	h->ndim = 0;
	skip_ws(ps);
	if (peek(ps, ')')) {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (h->ndim == NPY_PARSE_DIMS)
			return fail(ps->err, ps->errlen, -EINVAL, ps->path,
				    "arrays with more than 2 dimensions are not supported");
		rc = parse_dim(ps, &h->shape[h->ndim]);
		if (rc)
			return rc;
		h->ndim++;
		skip_ws(ps);
		if (peek(ps, ',')) {
			ps->p++;
			skip_ws(ps);
			if (peek(ps, ')')) {
				ps->p++;
				return 0;
			}
			continue;
		}
		if (peek(ps, ')')) {
			ps->p++;
			if (h->ndim == 1)
				return malformed(ps,
						 "'shape' is not a tuple (a 1-D shape is "
						 "written (%" PRIu64 ",))",
						 h->shape[0]);
			return 0;
		}
		return malformed(ps, "expected ',' or ')' in 'shape' but found %s",
				 found(ps, b, sizeof(b)));
	}
}

static int parse_dict(struct npy_parser *ps, struct npy_header *h)
{
	char b[16];
	int rc = expect(ps, '{', "'{'");
	if (rc)
		return rc;
	for (;;) {
		skip_ws(ps);
		if (peek(ps, '}')) {
			ps->p++;
			break;
		}
		char key[32];
		bool trunc;
		rc = parse_string(ps, key, sizeof(key), &trunc);
		if (rc)
			return rc;
		unsigned bit = trunc                               ? 0
			       : strcmp(key, "descr") == 0         ? KEY_DESCR
			       : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
			       : strcmp(key, "shape") == 0         ? KEY_SHAPE
								   : 0;
		if (!bit)
			return malformed(ps, "unexpected key '%s%s'", key, trunc ? "..." : "");
		if (h->seen & bit)
			return malformed(ps, "key '%s' appears twice", key);
		h->seen |= bit;
		rc = expect(ps, ':', "':' after a key");
		if (rc)
			return rc;
		skip_ws(ps);
		if (bit == KEY_DESCR) {
			if (peek(ps, '['))
				return fail(ps->err, ps->errlen, -EINVAL, ps->path,
					    "structured dtypes are not supported; hpcd reads "
					    "float64 ('<f8') and float32 ('<f4') arrays");
			rc = parse_string(ps, h->descr, sizeof(h->descr), &h->descr_truncated);
		} else if (bit == KEY_FORTRAN) {
			rc = parse_bool(ps, &h->fortran_order);
		} else {
			rc = parse_shape(ps, h);
		}
		if (rc)
			return rc;
		skip_ws(ps);
		if (peek(ps, ',')) {
			ps->p++;
			continue;
		}
		if (peek(ps, '}')) {
			ps->p++;
			break;
		}
		return malformed(ps, "expected ',' or '}' after the value of '%s' but found %s",
				 key, found(ps, b, sizeof(b)));
	}
	skip_ws(ps);
	if (ps->p != ps->end)
		return malformed(ps, "unexpected %s after the closing '}'",
				 found(ps, b, sizeof(b)));
	if (!(h->seen & KEY_DESCR))
		return malformed(ps, "the 'descr' key is missing");
	if (!(h->seen & KEY_FORTRAN))
		return malformed(ps, "the 'fortran_order' key is missing");
	if (!(h->seen & KEY_SHAPE))
		return malformed(ps, "the 'shape' key is missing");
	return 0;
}

static int check_dtype(const struct npy_header *h, const char *path, uint32_t *dtype, char *err,
		       size_t errlen)
{
	const char *d = h->descr;
	const char *more = h->descr_truncated ? "..." : "";
	if (!h->descr_truncated && strcmp(d, "<f8") == 0) {
		*dtype = HPC_F64;
		return 0;
	}
	if (!h->descr_truncated && strcmp(d, "<f4") == 0) {
		*dtype = HPC_F32;
		return 0;
	}
	if (!h->descr_truncated && (strcmp(d, ">f8") == 0 || strcmp(d, ">f4") == 0))
		return fail(err, errlen, -EINVAL, path,
			    "big-endian arrays are not supported (dtype '%s'); convert with "
			    "a.astype('<%s')",
			    d, d + 1);
	if (d[0] == '>')
		return fail(err, errlen, -EINVAL, path,
			    "big-endian arrays are not supported (dtype '%s%s'); hpcd reads "
			    "little-endian float64 ('<f8') and float32 ('<f4') arrays",
			    d, more);
	return fail(err, errlen, -EINVAL, path,
		    "dtype '%s%s' is not supported; hpcd reads float64 ('<f8') and float32 "
		    "('<f4') arrays",
		    d, more);
}

static int npy_inspect(int fd, uint64_t size, const char *path, struct hpc_df_info *info, char *err,
		       size_t errlen)
{
	unsigned char pre[12];
	ssize_t n = pread_full(fd, pre, sizeof(pre), 0);
	if (n < 0)
		return fail(err, errlen, -EIO, path, "cannot read: %s", strerror((int)-n));
	if ((size_t)n < sizeof(npy_magic) || memcmp(pre, npy_magic, sizeof(npy_magic)) != 0)
		return fail(err, errlen, -EINVAL, path,
			    "not an .npy file (bad magic); a raw file needs another name than "
			    "*.npy");
	if (n < 8)
		return fail(err, errlen, -EINVAL, path, "truncated .npy header");
	unsigned major = pre[6], minor = pre[7];
	if ((major != 1 && major != 2 && major != 3) || minor != 0)
		return fail(err, errlen, -EINVAL, path,
			    "unsupported .npy format version %u.%u (1.0, 2.0 and 3.0 are read)",
			    major, minor);
	uint64_t prefix = major == 1 ? 10 : 12;
	if ((uint64_t)n < prefix)
		return fail(err, errlen, -EINVAL, path, "truncated .npy header");
	uint64_t hlen = major == 1 ? (uint64_t)pre[8] | (uint64_t)pre[9] << 8
				   : (uint64_t)pre[8] | (uint64_t)pre[9] << 8 |
					 (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
	if (hlen > size - prefix)
		return fail(err, errlen, -EINVAL, path,
			    "header length %" PRIu64 " runs past the end of the file (%" PRIu64
			    " bytes)",
			    hlen, size);
	if (hlen > HPC_DF_NPY_HEADER_MAX)
		return fail(err, errlen, -EINVAL, path,
			    ".npy header of %" PRIu64 " bytes is too long (at most %u)", hlen,
			    HPC_DF_NPY_HEADER_MAX);

	char *hdr = malloc(hlen ? hlen : 1);
	if (!hdr)
		return fail(err, errlen, -ENOMEM, path, "out of memory for the .npy header");
	n = pread_full(fd, hdr, hlen, prefix);
	if (n < 0 || (uint64_t)n != hlen) {
		free(hdr);
		return fail(err, errlen, -EIO, path, "cannot read the .npy header: %s",
			    n < 0 ? strerror((int)-n) : "file ended early");
	}
	struct npy_parser ps = {hdr, hdr + hlen, path, err, errlen};
	struct npy_header h;
	memset(&h, 0, sizeof(h));
	int rc = parse_dict(&ps, &h);
	free(hdr);
	if (rc)
		return rc;

	rc = check_dtype(&h, path, &info->dtype, err, errlen);
	if (rc)
		return rc;
	if (h.fortran_order)
		return fail(err, errlen, -EINVAL, path,
			    "Fortran-order arrays are not supported; save with "
			    "numpy.ascontiguousarray");
	if (h.ndim > 2)
		return fail(err, errlen, -EINVAL, path,
			    "%u-D arrays are not supported; hpcd works on vectors (1-D) and "
			    "matrices (2-D)",
			    h.ndim);

	uint64_t count = 1;
	for (unsigned i = 0; i < h.ndim; i++)
		if (__builtin_mul_overflow(count, h.shape[i], &count))
			return fail(err, errlen, -EOVERFLOW, path,
				    "bad .npy header: the array size overflows");
	uint64_t bytes;
	if (__builtin_mul_overflow(count, (uint64_t)hpc_dtype_size(info->dtype), &bytes))
		return fail(err, errlen, -EOVERFLOW, path,
			    "bad .npy header: the array size overflows");

	info->format = HPC_DF_NPY;
	info->ndim = h.ndim;
	for (unsigned i = 0; i < h.ndim; i++)
		info->shape[i] = h.shape[i];
	info->count = count;
	info->data_offset = prefix + hlen;
	info->data_bytes = bytes;
	info->npy_major = major;

	uint64_t have = size - info->data_offset;
	char shp[64];
	format_shape(shp, sizeof(shp), info->ndim, info->shape);
	if (have < bytes)
		return fail(err, errlen, -EINVAL, path,
			    "truncated: shape %s of %s needs %" PRIu64
			    " bytes of data but the file holds %" PRIu64,
			    shp, hpc_dtype_name(info->dtype), bytes, have);
	if (have > bytes)
		return fail(err, errlen, -EINVAL, path,
			    "%" PRIu64 " unexpected bytes after the data of shape %s (a file of "
			    "several arrays is not supported)",
			    have - bytes, shp);
	return 0;
}

static int raw_inspect(int fd, uint64_t size, const char *path, uint32_t dtype,
		       struct hpc_df_info *info, char *err, size_t errlen)
{
	size_t es = hpc_dtype_size(dtype);
	unsigned char pre[sizeof(npy_magic)];
	ssize_t n = pread_full(fd, pre, sizeof(pre), 0);
	if (n < 0)
		return fail(err, errlen, -EIO, path, "cannot read: %s", strerror((int)-n));
	if ((size_t)n == sizeof(pre) && memcmp(pre, npy_magic, sizeof(pre)) == 0)
		return fail(err, errlen, -EINVAL, path,
			    "this is an .npy file but its name does not end in .npy, so it would "
			    "be read as raw data; rename it to end in .npy");
	if (size % es)
		return fail(err, errlen, -EINVAL, path,
			    "raw file of %" PRIu64 " bytes is not a whole number of %s values "
			    "(%zu bytes each)%s",
			    size, hpc_dtype_name(dtype), es,
			    dtype == HPC_F64 && size % 4 == 0 ? "; use --dtype f32 for float32 data"
							      : "");
	info->format = HPC_DF_RAW;
	info->dtype = dtype;
	info->ndim = 1;
	info->shape[0] = size / es;
	info->count = size / es;
	info->data_offset = 0;
	info->data_bytes = size;
	return 0;
}

int hpc_df_open(const char *path, uint32_t raw_dtype, struct hpc_df_file *f, char *err,
		size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!f)
		return -EINVAL;
	f->fd = -1;
	f->path = path;
	memset(&f->info, 0, sizeof(f->info));
	if (!path)
		return fail(err, errlen, -EINVAL, path, "no file name");
	if (hpc_dtype_size(raw_dtype) == 0)
		return fail(err, errlen, -EINVAL, path, "unknown element type %u", raw_dtype);

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return fail(err, errlen, -e, path, "cannot open: %s", strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fail(err, errlen, -e, path, "cannot stat: %s", strerror(e));
	}
	/* Sizes decide shapes, so a pipe or a device, whose size is unknown, cannot be used. */
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, path,
			    "not a regular file");
	}
	uint64_t size = (uint64_t)st.st_size;
	int rc = hpc_df_format_of(path) == HPC_DF_NPY
		     ? npy_inspect(fd, size, path, &f->info, err, errlen)
		     : raw_inspect(fd, size, path, raw_dtype, &f->info, err, errlen);
	if (rc) {
		close(fd);
		memset(&f->info, 0, sizeof(f->info));
		return rc;
	}
	f->fd = fd;
	return 0;
}

int hpc_df_read(const struct hpc_df_file *f, void *buf, size_t len, char *err, size_t errlen)
{
	if (!f || f->fd < 0 || (!buf && f->info.data_bytes))
		return fail(err, errlen, -EINVAL, f ? f->path : NULL, "file is not open");
	if (len < f->info.data_bytes)
		return fail(err, errlen, -EINVAL, f->path,
			    "buffer of %zu bytes is too small for %" PRIu64 " bytes of data", len,
			    f->info.data_bytes);
	ssize_t n = pread_full(f->fd, buf, f->info.data_bytes, f->info.data_offset);
	if (n < 0)
		return fail(err, errlen, (int)n, f->path, "cannot read: %s", strerror((int)-n));
	if ((uint64_t)n != f->info.data_bytes)
		return fail(err, errlen, -EIO, f->path,
			    "file ended after %zd of %" PRIu64
			    " bytes of data (did it change while being read?)",
			    n, f->info.data_bytes);
	return 0;
}

void hpc_df_close(struct hpc_df_file *f)
{
	if (f && f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
}

int hpc_df_inspect(const char *path, uint32_t raw_dtype, struct hpc_df_info *info, char *err,
		   size_t errlen)
{
	struct hpc_df_file f;
	int rc = hpc_df_open(path, raw_dtype, &f, err, errlen);
	if (rc == 0) {
		if (info)
			*info = f.info;
		hpc_df_close(&f);
	}
	return rc;
}

/* ---- Writers --------------------------------------------------------------- */

ssize_t hpc_df_npy_header(char *buf, size_t len, uint32_t dtype, unsigned ndim,
			  const uint64_t *shape)
{
	if (hpc_dtype_size(dtype) == 0 || ndim > 2 || (ndim && !shape))
		return -EINVAL;
	char shp[64], dict[160];
	format_shape(shp, sizeof(shp), ndim, shape);
	int dl =
	    snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
		     dtype == HPC_F64 ? "<f8" : "<f4", shp);
	/* magic(6) + version(2) + length(2) + dict + at least the final '\n', rounded to 64. */
	size_t total = (10 + (size_t)dl + 1 + 63) / 64 * 64;
	if (total > len)
		return -ENOSPC;
	size_t hlen = total - 10;
	memcpy(buf, npy_magic, sizeof(npy_magic));
	buf[6] = 1;
	buf[7] = 0;
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)(hlen >> 8);
	memcpy(buf + 10, dict, (size_t)dl);
	memset(buf + 10 + dl, ' ', hlen - (size_t)dl - 1);
	buf[total - 1] = '\n';
	return (ssize_t)total;
}

/*
 * A name for the temporary file beside path: hidden, unique to this process,
 * and in the same folder so that rename(2) is atomic.
 */
static char *temp_name(const char *path, unsigned attempt)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t len = strlen(path) + 64;
	char *t = malloc(len);
	if (!t)
		return NULL;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(t, len, "%.*s.%s.tmp-%ld-%u-%lx", (int)dirlen, path, path + dirlen, (long)getpid(),
		 attempt, (unsigned long)ts.tv_nsec);
	return t;
}

int hpc_df_write(const char *path, enum hpc_df_format format, uint32_t dtype, unsigned ndim,
		 const uint64_t *shape, const void *data, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path)
		return fail(err, errlen, -EINVAL, path, "no file name");
	if (hpc_dtype_size(dtype) == 0 || ndim > 2 || (ndim && !shape) ||
	    (format != HPC_DF_NPY && format != HPC_DF_RAW))
		return fail(err, errlen, -EINVAL, path, "bad array description");
	uint64_t count = 1, bytes;
	for (unsigned i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(count, shape[i], &count))
			return fail(err, errlen, -EOVERFLOW, path, "array size overflows");
	if (__builtin_mul_overflow(count, (uint64_t)hpc_dtype_size(dtype), &bytes) ||
	    bytes > SIZE_MAX)
		return fail(err, errlen, -EOVERFLOW, path, "array size overflows");
	if (bytes && !data)
		return fail(err, errlen, -EINVAL, path, "no data");

	char hdr[256];
	ssize_t hl = 0;
	if (format == HPC_DF_NPY) {
		hl = hpc_df_npy_header(hdr, sizeof(hdr), dtype, ndim, shape);
		if (hl < 0)
			return fail(err, errlen, (int)hl, path, "cannot build the .npy header");
	}

	char *tmp = NULL;
	int fd = -1;
	for (unsigned attempt = 0; attempt < 100 && fd < 0; attempt++) {
		free(tmp);
		tmp = temp_name(path, attempt);
		if (!tmp)
			return fail(err, errlen, -ENOMEM, path, "out of memory");
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST) {
			int e = errno;
			free(tmp);
			return fail(err, errlen, -e, path, "cannot create: %s", strerror(e));
		}
	}
	if (fd < 0) {
		free(tmp);
		return fail(err, errlen, -EEXIST, path, "cannot create a temporary file beside it");
	}

	int rc = write_full(fd, hdr, (size_t)hl);
	if (rc == 0)
		rc = write_full(fd, data, (size_t)bytes);
	/* Durable before it becomes visible: otherwise a crash could leave an empty file at path.
	 */
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		free(tmp);
		return fail(err, errlen, rc, path, "cannot write: %s", strerror(-rc));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		return fail(err, errlen, -e, path, "cannot replace: %s", strerror(e));
	}
	free(tmp);
	return 0;
}
