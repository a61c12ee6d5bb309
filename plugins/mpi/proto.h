/*
 * plugins/mpi/proto.h - the local channel between the mpi plugin (inside
 * hpcd) and rank 0 of its MPI job (hpc_mpi_worker). Private to plugins/mpi/.
 *
 * The plugin listens on a Unix SOCK_SEQPACKET socket in a private 0700
 * folder and starts `mpirun ... hpc_mpi_worker --socket PATH`; rank 0
 * connects back once MPI is up and sends one HELLO. From then on the plugin
 * sends one request per packet and, for JOB, waits for one REPLY:
 *
 *   plugin -> rank 0   JOB     struct hpc_mpi_req (+ the client's memfd with
 *                              SCM_RIGHTS the first time a region is named)
 *   plugin -> rank 0   FORGET  struct hpc_mpi_req (region_id): no reply
 *   plugin -> rank 0   STOP    struct hpc_mpi_req: the ranks finalize and exit
 *   rank 0 -> plugin   HELLO   struct hpc_mpi_reply (np, ranks on this host)
 *   rank 0 -> plugin   STARTED struct hpc_mpi_reply (seq): every rank took the
 *                              job and none has written any output yet
 *   rank 0 -> plugin   REPLY   struct hpc_mpi_reply (status, scalar result)
 *
 * STARTED is what lets the plugin tell an MPI job that died while idle (rank
 * 0 hangs up before STARTED: no client memory was touched, so the job may be
 * sent again to a fresh MPI job) from one that died during the job (after
 * STARTED: the job fails with EIO).
 *
 * Both ends are built from the same tree, so the structs need no versioning
 * beyond the magic; they are still plain data with a static size check.
 */
#ifndef HPC_PLUGINS_MPI_PROTO_H
#define HPC_PLUGINS_MPI_PROTO_H

#include <stdint.h>

#define HPC_MPI_MAGIC 0x3149504du /* "MPI1" little-endian */

enum hpc_mpi_msg {
	HPC_MPI_HELLO = 1,
	HPC_MPI_JOB = 2,
	HPC_MPI_FORGET = 3,
	HPC_MPI_STOP = 4,
	HPC_MPI_REPLY = 5,
	HPC_MPI_STARTED = 6,
};

/* Ranks whose cumulative byte counts travel in each reply (sent[] below). */
#define HPC_MPI_COUNTED_RANKS 16

/* Reply flags. */
#define HPC_MPI_REGION_HELD 1u /* rank 0 holds the region's fd now */
#define HPC_MPI_A_RESIDENT 2u  /* operand a was already on the ranks */
#define HPC_MPI_B_RESIDENT 4u  /* operand b was already on the ranks */

struct hpc_mpi_req {
	uint32_t magic; /* HPC_MPI_MAGIC */
	uint32_t type;  /* enum hpc_mpi_msg */
	uint64_t seq;   /* echoed in the reply */
	uint32_t op, dtype;
	uint64_t m, n, k;
	double alpha;
	uint64_t region_id;
	uint64_t region_size; /* bytes of the memfd; set when an fd comes along */
	uint64_t arena_off;
	uint64_t a_off, b_off, out_off; /* inside the arena */
	uint64_t a_gen, b_gen;          /* hpc/wire.h: 0 = may have changed */
	uint32_t has_fd;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hpc_mpi_req) == 128, "hpc_mpi_req is 128 bytes");

struct hpc_mpi_reply {
	uint32_t magic;
	uint32_t type; /* HPC_MPI_HELLO or HPC_MPI_REPLY */
	uint64_t seq;
	int32_t status;    /* 0 or a negative errno */
	uint32_t flags;    /* HPC_MPI_* above */
	double result;     /* dot and sum */
	uint32_t np;       /* HELLO: ranks in the job */
	uint32_t nlocal;   /* HELLO: ranks on rank 0's host */
	uint32_t nmapped;  /* HELLO: ranks reading client regions directly */
	uint32_t resident; /* HELLO: resident operand slots */
	char msg[192];     /* NUL-terminated: why a job failed, or HELLO's host list */
	/* REPLY: bytes rank 0 has sent over MPI since the MPI job started, to each of
	 * world ranks 1..HPC_MPI_COUNTED_RANKS (sent[r - 1]), and in all. */
	uint64_t sent[HPC_MPI_COUNTED_RANKS];
	uint64_t sent_total;
	uint64_t recv_total; /* bytes rank 0 has received (gathered rows) */
};
_Static_assert(sizeof(struct hpc_mpi_reply) == 384, "hpc_mpi_reply is 384 bytes");

#endif /* HPC_PLUGINS_MPI_PROTO_H */
