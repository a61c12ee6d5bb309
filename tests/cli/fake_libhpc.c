/*
 * tests/cli/fake_libhpc.c - an in-process stand-in for libhpc, so that the
 * tests can drive hpcrun from its command line to its output without a
 * daemon. Linked only into //tests/cli:hpcrun_fake.
 *
 * Environment:
 *   HPC_FAKE=1            connections succeed; otherwise they fail as with no
 *                         daemon (-ENOENT when the socket path does not exist,
 *                         -ECONNREFUSED when it does)
 *   HPC_FAKE_STATUS=N,D   every job completes with status -N and detail D
 *   HPC_FAKE_REFUSE=1     control requests are refused with a reason
 *
 * The arena is exactly the size hpcrun asked for, and every operand must lie
 * inside it, so hpcrun's arena sizing is checked too. Jobs are computed here
 * with plain loops (the serial reference).
 */
#include "hpc/client.h"
#include "hpc/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hpc_client {
	char *arena;
	size_t size, used;
};

const char *hpc_default_socket(void)
{
	const char *s = getenv("HPCD_SOCKET");
	return s && *s ? s : HPC_DEFAULT_SOCKET;
}

static int no_daemon(const char *path)
{
	return access(path, F_OK) == 0 ? -ECONNREFUSED : -ENOENT;
}

int hpc_connect_opts(const char *socket_path, size_t arena_bytes,
		     const struct hpc_connect_opts *opts, struct hpc_client **out)
{
	const char *path = socket_path ? socket_path : hpc_default_socket();
	if (!getenv("HPC_FAKE"))
		return no_daemon(path);
	struct hpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->size = arena_bytes;
	c->arena = aligned_alloc(64, (arena_bytes + 63) & ~(size_t)63);
	if (!c->arena) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

int hpc_connect(const char *socket_path, size_t arena_bytes, struct hpc_client **out)
{
	return hpc_connect_opts(socket_path, arena_bytes, NULL, out);
}

void hpc_close(struct hpc_client *c)
{
	if (c) {
		free(c->arena);
		free(c);
	}
}

void *hpc_alloc(struct hpc_client *c, size_t bytes)
{
	size_t at = (c->used + 63) & ~(size_t)63;
	if (bytes > c->size || at > c->size - bytes)
		return NULL;
	c->used = at + bytes;
	return c->arena + at;
}

void hpc_free(struct hpc_client *c, void *p)
{
}

void *hpc_arena(struct hpc_client *c, size_t *size)
{
	if (size)
		*size = c->size;
	return c->arena;
}

int hpc_submit(struct hpc_client *c, const struct hpc_request *reqs, unsigned n)
{
	return -ENOSYS;
}

int hpc_wait(struct hpc_client *c, struct hpc_completion *out, unsigned min, unsigned max,
	     int timeout_ms)
{
	return -ENOSYS;
}

int hpc_poll(struct hpc_client *c, struct hpc_completion *out, unsigned max)
{
	return -ENOSYS;
}

unsigned hpc_inflight(const struct hpc_client *c)
{
	return 0;
}

static int inside(const struct hpc_client *c, const void *p, uint64_t bytes)
{
	const char *q = p;
	return q >= c->arena && bytes <= c->size && (size_t)(q - c->arena) <= c->size - bytes;
}

#define KERNELS(T, SUFFIX)                                                                         \
	static void run_##SUFFIX(const struct hpc_request *r, struct hpc_completion *d)            \
	{                                                                                          \
		const T *a = r->a, *b = r->b;                                                      \
		T *o = r->out;                                                                     \
		double s = 0;                                                                      \
		switch (r->op) {                                                                   \
		case HPC_OP_MATVEC:                                                                \
			for (uint64_t i = 0; i < r->m; i++) {                                      \
				T acc = 0;                                                         \
				for (uint64_t j = 0; j < r->n; j++)                                \
					acc += a[i * r->n + j] * b[j];                             \
				o[i] = acc;                                                        \
			}                                                                          \
			break;                                                                     \
		case HPC_OP_MATMUL:                                                                \
			for (uint64_t i = 0; i < r->m; i++)                                        \
				for (uint64_t j = 0; j < r->n; j++) {                              \
					T acc = 0;                                                 \
					for (uint64_t l = 0; l < r->k; l++)                        \
						acc += a[i * r->k + l] * b[l * r->n + j];          \
					o[i * r->n + j] = acc;                                     \
				}                                                                  \
			break;                                                                     \
		case HPC_OP_DOT:                                                                   \
			for (uint64_t i = 0; i < r->n; i++)                                        \
				s += (double)a[i] * (double)b[i];                                  \
			break;                                                                     \
		case HPC_OP_SUM:                                                                   \
			for (uint64_t i = 0; i < r->n; i++)                                        \
				s += (double)a[i];                                                 \
			break;                                                                     \
		case HPC_OP_AXPY:                                                                  \
			for (uint64_t i = 0; i < r->n; i++)                                        \
				o[i] = (T)r->alpha * a[i] + o[i];                                  \
			break;                                                                     \
		}                                                                                  \
		d->result = s;                                                                     \
	}

KERNELS(double, f64)
KERNELS(float, f32)

int hpc_run(struct hpc_client *c, const struct hpc_request *r, struct hpc_completion *done)
{
	struct hpc_completion d;
	memset(&d, 0, sizeof(d));
	d.user_data = r->user_data;
	uint64_t es = hpc_dtype_size(r->dtype);
	uint64_t asz = 0, bsz = 0, osz = 0;
	switch (r->op) {
	case HPC_OP_MATVEC:
		asz = r->m * r->n;
		bsz = r->n;
		osz = r->m;
		break;
	case HPC_OP_MATMUL:
		asz = r->m * r->k;
		bsz = r->k * r->n;
		osz = r->m * r->n;
		break;
	case HPC_OP_DOT:
		asz = bsz = r->n;
		break;
	case HPC_OP_SUM:
		asz = r->n;
		break;
	case HPC_OP_AXPY:
		asz = osz = r->n;
		break;
	}
	const char *st = getenv("HPC_FAKE_STATUS");
	if (st) {
		int e = 0;
		unsigned det = 0;
		sscanf(st, "%d,%u", &e, &det);
		d.status = -e;
		d.detail = det;
	} else if (!es || !inside(c, r->a, asz * es) || (bsz && !inside(c, r->b, bsz * es)) ||
		   (!bsz && r->b) || (osz && !inside(c, r->out, osz * es)) || (!osz && r->out)) {
		d.status = -ERANGE;
		d.detail = HPC_E_OUT_OF_REGION;
	} else if (r->dtype == HPC_F64) {
		run_f64(r, &d);
	} else {
		run_f32(r, &d);
	}
	if (done)
		*done = d;
	return d.status;
}

int hpc_control(const char *socket_path, enum hpc_control what, char *buf, size_t len)
{
	const char *path = socket_path ? socket_path : hpc_default_socket();
	if (!getenv("HPC_FAKE"))
		return no_daemon(path);
	if (getenv("HPC_FAKE_REFUSE")) {
		snprintf(buf, len, "bad.ini:3: unknown key 'thread'\n");
		return -EINVAL;
	}
	snprintf(buf, len, "fake %s at %s\n",
		 what == HPC_CTL_STATUS     ? "status"
		 : what == HPC_CTL_BACKENDS ? "backends"
					    : "reload",
		 path);
	return 0;
}

const char *hpc_strerror(int status, uint32_t detail)
{
	switch (detail) {
	case HPC_E_OUT_OF_REGION:
		return "an operand lies outside the shared arena";
	case HPC_E_BACKEND_FAILED:
		return "the backend reported an error";
	case HPC_E_SHUTDOWN:
		return "the daemon is shutting down";
	default:
		return status ? "the job failed" : "no error";
	}
}
