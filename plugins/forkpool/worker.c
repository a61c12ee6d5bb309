/*
 * hpc_forkpool_worker - one worker process of the forkpool backend.
 *
 * Started by the plugin (posix_spawn) with its end of a SOCK_SEQPACKET
 * socketpair as fd 3; speaks plugins/forkpool/proto.h. It maps each client
 * region it is sent (the memfd arrives once, with SCM_RIGHTS), computes its
 * chunks on pointers into that mapping - no operand is copied - and unmaps a
 * region when told to forget it. It exits when the plugin's end closes.
 *
 * It trusts nothing it is sent: every operand of a chunk is checked against
 * the size of its own mapping before a kernel touches it, so a bad request
 * fails the chunk (-ERANGE) instead of faulting.
 *
 * Built with -ffp-contract=off: the partial sums use TwoSum (see
 * kernels/twosum.h for why that needs IEEE evaluation as written).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hpc/ops.h"
#include "hpc/types.h"
#include "kernels/serial.h"
#include "kernels/twosum.h"
#include "plugins/base/fdpass.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/regtab.h"
#include "plugins/forkpool/proto.h"

/* The client regions this worker has mapped: the memfds it was sent, by region id. */
static struct hpcb_regtab maps;

/* base + arena_off + off, when [that, + elems * es) lies inside the mapping. */
static void *span(const struct hpcb_region *m, uint64_t arena_off, uint64_t off, uint64_t elems,
		  uint64_t es)
{
	uint64_t start, len, end;
	if (__builtin_add_overflow(arena_off, off, &start) ||
	    __builtin_mul_overflow(elems, es, &len) || __builtin_add_overflow(start, len, &end) ||
	    end > m->size)
		return NULL;
	return m->base + start;
}

/*
 * Run one chunk. Operand spans are those of the whole job (checked whole), the
 * chunk's rows or elements a part of them. Returns 0 or a negative errno.
 */
static int compute(const struct fp_chunk *c, const struct hpcb_region *m, struct fp_reply *r)
{
	const uint64_t es = hpc_dtype_size(c->dtype);
	if (es == 0 || !hpc_op_desc(c->op))
		return -EOPNOTSUPP;
	/* The operands' extents and the split dimension: the op table's. */
	uint64_t el[HPC_ARG__COUNT], end;
	if (hpc_op_extents(c->op, c->m, c->n, c->k, es, el, NULL) < 0)
		return -EOVERFLOW;
	const uint64_t na = el[HPC_ARG_A], nb = el[HPC_ARG_B], nout = el[HPC_ARG_OUT];
	const uint64_t units = hpc_op_split_len(c->op, c->m, c->n, c->k);
	if (__builtin_add_overflow(c->first, c->count, &end) || end > units)
		return -ERANGE;
	const unsigned char *a = span(m, c->arena_off, c->a_off, na, es);
	const unsigned char *b = nb ? span(m, c->arena_off, c->b_off, nb, es) : NULL;
	unsigned char *out = nout ? span(m, c->arena_off, c->out_off, nout, es) : NULL;
	if (!a || (nb && !b) || (nout && !out))
		return -ERANGE;

	const uint64_t f = c->first, cnt = c->count;
	const bool d = c->dtype == HPC_F64;
	/* Compensated (TwoSum): the true sum is hi + lo up to serial's bound. */
	struct hpc_csum cs = {0.0, 0.0};
	switch (c->op) {
	case HPC_OP_MATVEC:
		if (d)
			hpc_serial_matvec_f64((const double *)a + f * c->n, (const double *)b,
					      (double *)out + f, cnt, c->n);
		else
			hpc_serial_matvec_f32((const float *)a + f * c->n, (const float *)b,
					      (float *)out + f, cnt, c->n);
		break;
	case HPC_OP_MATMUL:
		if (d)
			hpc_serial_matmul_f64((const double *)a + f * c->k, (const double *)b,
					      (double *)out + f * c->n, cnt, c->n, c->k);
		else
			hpc_serial_matmul_f32((const float *)a + f * c->k, (const float *)b,
					      (float *)out + f * c->n, cnt, c->n, c->k);
		break;
	case HPC_OP_DOT:
		/* f32 products are exact in double; nothing is rounded to float here. */
		for (uint64_t i = f; i < f + cnt; i++)
			hpc_csum_add(&cs, d ? ((const double *)a)[i] * ((const double *)b)[i]
					    : (double)((const float *)a)[i] *
						  (double)((const float *)b)[i]);
		break;
	case HPC_OP_SUM:
		for (uint64_t i = f; i < f + cnt; i++)
			hpc_csum_add(&cs,
				     d ? ((const double *)a)[i] : (double)((const float *)a)[i]);
		break;
	case HPC_OP_AXPY:
		if (d)
			hpc_serial_axpy_f64(c->alpha, (const double *)a + f, (double *)out + f,
					    cnt);
		else
			hpc_serial_axpy_f32(c->alpha, (const float *)a + f, (float *)out + f, cnt);
		break;
	}
	r->hi = cs.hi;
	r->lo = cs.lo;
	return 0;
}

static int send_reply(struct fp_reply *r)
{
	r->pid = (uint32_t)getpid();
	r->mapped = (uint32_t)maps.n;
	ssize_t n;
	do
		n = send(FP_WORKER_FD, r, sizeof(*r), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*r) ? 0 : -1;
}

int main(void)
{
	/* The daemon blocks its signals (signalfd) and the mask survives exec. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "hpc_fp_worker"); /* also when run from a memfd (named by its fd) */
	/* Terminal signals are the daemon's to handle: we end when our socket does. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	struct fp_reply hello = {.type = FP_HELLO, .version = FP_PROTO_VERSION};
	if (send_reply(&hello) < 0)
		return 1;

	for (;;) {
		struct fp_chunk c;
		int fd = -1;
		ssize_t n = hpcb_fd_recv(FP_WORKER_FD, &c, sizeof(c), &fd, 0);
		if (n == 0 || n == -ECONNRESET || n == -EPIPE)
			break; /* the plugin closed our socket (or the daemon is gone) */
		if (n != (ssize_t)sizeof(c)) {
			if (fd >= 0)
				close(fd);
			break; /* not our protocol: end rather than guess */
		}

		struct fp_reply r = {.seq = c.seq};
		if (c.type == FP_FORGET) {
			if (fd >= 0)
				close(fd);
			hpcb_regtab_drop(&maps, c.region_id);
			r.type = FP_FORGOT;
		} else if (c.type == FP_CHUNK) {
			r.type = FP_DONE;
			if (c.flags & FP_HAS_FD)
				r.status = fd >= 0
					       ? hpcb_regtab_map(&maps, c.region_id, fd, 0, false)
					       : -EBADF;
			else if (fd >= 0)
				close(fd);
			const struct hpcb_region *m = hpcb_regtab_find(&maps, c.region_id);
			if (r.status == 0 && !m)
				r.status = -ENOENT;
			r.start_ns = hpcb_now_ns();
			if (c.delay_us && r.status == 0)
				usleep(c.delay_us); /* counts as the chunk's work */
			if (r.status == 0)
				r.status = compute(&c, m, &r);
			r.end_ns = hpcb_now_ns();
		} else {
			if (fd >= 0)
				close(fd);
			break;
		}
		if (send_reply(&r) < 0)
			break;
	}
	hpcb_regtab_free(&maps);
	return 0;
}
