/*
 * ipc/region.h - a client's shared region: a sealed memfd holding the
 * submission ring, the completion ring and the operand arena.
 *
 * The daemon creates the region (hpci_region_create), the memfd is sealed
 * against growing and shrinking (so no side can make the other's mapping
 * fault with SIGBUS) and against further sealing, and the fd travels to the
 * client with SCM_RIGHTS, where hpci_region_map() maps it after checking the
 * layout it was told against the file itself.
 */
#ifndef HPC_IPC_REGION_H
#define HPC_IPC_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "hpc/wire.h"
#include "ipc/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits the daemon enforces on a client's request. */
#define HPC_RING_MIN 2u
#define HPC_RING_MAX 65536u

/* A mapped region, on either side. */
struct hpci_region {
	struct hpc_region_hdr layout; /* private copy: never re-read from shared memory */
	int fd;
	unsigned char *base;
	unsigned char *arena;
};

/*
 * Compute the layout for an arena of arena_bytes and rings of the given sizes
 * (rounded up to powers of two, clamped to [HPC_RING_MIN, HPC_RING_MAX];
 * cq_entries is raised to sq_entries). Returns 0 or -EOVERFLOW.
 */
int hpci_region_layout(uint64_t arena_bytes, uint32_t sq_entries, uint32_t cq_entries,
		       struct hpc_region_hdr *out);

/*
 * Daemon: create, size, seal and map a region with the given layout, and
 * write its header. populate pre-faults the mapping (first touches of shmem
 * pay 4 KiB page faults here; better at connect than in the first job).
 * Returns 0 or a negative errno; on failure nothing is left behind.
 */
int hpci_region_create(const struct hpc_region_hdr *layout, const char *name, int populate,
		       struct hpci_region *out);

/*
 * Client: map the region fd with the layout the daemon sent, after checking
 * that the file's size and seals match it and that the layout is
 * self-consistent. Takes ownership of fd (closed on failure too).
 */
int hpci_region_map(int fd, const struct hpc_region_hdr *layout, int populate,
		    struct hpci_region *out);

/* Unmap and close. Safe on a struct that hpci_region_create/map left after failing. */
void hpci_region_unmap(struct hpci_region *r);

/* Check a layout for internal consistency (offsets, sizes, powers of two). */
int hpci_region_layout_check(const struct hpc_region_hdr *l);

/* Ring views over a mapped region. */
void hpci_region_sq(const struct hpci_region *r, struct hpci_ring *ring);
void hpci_region_cq(const struct hpci_region *r, struct hpci_ring *ring);

#ifdef __cplusplus
}
#endif

#endif /* HPC_IPC_REGION_H */
