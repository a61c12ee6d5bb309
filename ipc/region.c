#include "ipc/region.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/sys.h"

#define REGION_PAGE 4096u
#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static uint32_t ring_size(uint32_t want)
{
	if (want < HPC_RING_MIN)
		want = HPC_RING_MIN;
	if (want > HPC_RING_MAX)
		want = HPC_RING_MAX;
	uint32_t p = 1;
	while (p < want)
		p <<= 1;
	return p;
}

static int round_up(uint64_t v, uint64_t to, uint64_t *out)
{
	if (v > UINT64_MAX - (to - 1))
		return -EOVERFLOW;
	*out = (v + to - 1) & ~(to - 1);
	return 0;
}

int hpci_region_layout(uint64_t arena_bytes, uint32_t sq_entries, uint32_t cq_entries,
		       struct hpc_region_hdr *out)
{
	struct hpc_region_hdr l;
	memset(&l, 0, sizeof(l));
	l.magic = HPC_REGION_MAGIC;
	l.version = HPC_WIRE_VERSION;
	l.sq_entries = ring_size(sq_entries);
	l.cq_entries = ring_size(cq_entries);
	if (l.cq_entries < l.sq_entries)
		l.cq_entries = l.sq_entries;

	/* Header, then the two control blocks, each on its own cache lines. */
	l.sq_ctl_off = sizeof(struct hpc_region_hdr);
	l.cq_ctl_off = l.sq_ctl_off + sizeof(struct hpc_ring_ctl);
	l.sq_ring_off = l.cq_ctl_off + sizeof(struct hpc_ring_ctl);
	l.cq_ring_off = l.sq_ring_off + (uint64_t)l.sq_entries * sizeof(struct hpc_sqe);
	uint64_t end = l.cq_ring_off + (uint64_t)l.cq_entries * sizeof(struct hpc_cqe);
	if (round_up(end, REGION_PAGE, &l.arena_off) < 0 ||
	    round_up(arena_bytes, REGION_PAGE, &l.arena_size) < 0)
		return -EOVERFLOW;
	if (l.arena_size > UINT64_MAX - l.arena_off ||
	    l.arena_off + l.arena_size > (uint64_t)INT64_MAX)
		return -EOVERFLOW;
	l.region_size = l.arena_off + l.arena_size;
	*out = l;
	return 0;
}

int hpci_region_layout_check(const struct hpc_region_hdr *l)
{
	if (l->magic != HPC_REGION_MAGIC || l->version != HPC_WIRE_VERSION)
		return -EPROTO;
	struct hpc_region_hdr want;
	/* The layout is a pure function of its sizes: recompute and compare, so
	 * no offset from the peer is used without being derived here too. */
	if (hpci_region_layout(l->arena_size, l->sq_entries, l->cq_entries, &want) < 0)
		return -EPROTO;
	if (want.sq_entries != l->sq_entries || want.cq_entries != l->cq_entries ||
	    want.arena_size != l->arena_size || want.sq_ctl_off != l->sq_ctl_off ||
	    want.cq_ctl_off != l->cq_ctl_off || want.sq_ring_off != l->sq_ring_off ||
	    want.cq_ring_off != l->cq_ring_off || want.arena_off != l->arena_off ||
	    want.region_size != l->region_size)
		return -EPROTO;
	return 0;
}

static int map_fd(int fd, const struct hpc_region_hdr *l, int populate, struct hpci_region *out)
{
	int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
	void *p = hpci_sys.mmap(NULL, l->region_size, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	out->layout = *l;
	out->fd = fd;
	out->base = p;
	out->arena = out->base + l->arena_off;
	return 0;
}

int hpci_region_create(const struct hpc_region_hdr *layout, const char *name, int populate,
		       struct hpci_region *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	int rc = hpci_region_layout_check(layout);
	if (rc < 0)
		return -EINVAL;

	int fd = hpci_sys.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)layout->region_size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = map_fd(fd, layout, populate, out);
	if (rc < 0) {
		close(fd);
		out->fd = -1;
		return rc;
	}
	/* ftruncate zero-fills: the rings start empty with both indexes at 0. */
	memcpy(out->base, layout, sizeof(*layout));
	return 0;
}

int hpci_region_map(int fd, const struct hpc_region_hdr *layout, int populate,
		    struct hpci_region *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	int rc = hpci_region_layout_check(layout);
	if (rc < 0)
		goto fail;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if ((uint64_t)st.st_size != layout->region_size || seals < 0 ||
	    (seals & REQUIRED_SEALS) != REQUIRED_SEALS) {
		rc = -EPROTO;
		goto fail;
	}
	rc = map_fd(fd, layout, populate, out);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	close(fd);
	return rc;
}

void hpci_region_unmap(struct hpci_region *r)
{
	if (r->base)
		munmap(r->base, r->layout.region_size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->arena = NULL;
	r->fd = -1;
}

void hpci_region_sq(const struct hpci_region *r, struct hpci_ring *ring)
{
	hpci_ring_init(ring, (struct hpc_ring_ctl *)(r->base + r->layout.sq_ctl_off),
		       r->base + r->layout.sq_ring_off, r->layout.sq_entries,
		       sizeof(struct hpc_sqe), 0);
}

void hpci_region_cq(const struct hpci_region *r, struct hpci_ring *ring)
{
	hpci_ring_init(ring, (struct hpc_ring_ctl *)(r->base + r->layout.cq_ctl_off),
		       r->base + r->layout.cq_ring_off, r->layout.cq_entries,
		       sizeof(struct hpc_cqe), 0);
}
