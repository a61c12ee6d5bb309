/*
 * ipc/ring.h - single-producer single-consumer rings in shared memory, and
 * the adaptive wait (spin, then futex) that both sides use when idle.
 *
 * Arithmetic (after DPDK's rte_ring): capacity is a power of two; head and
 * tail are 32-bit counters that only increase; the slot of index i is
 * i & mask; occupancy is tail - head in unsigned arithmetic, which is right
 * across wrap-around because capacity <= 2^31.
 *
 * Each side keeps its own index in private memory (struct hpci_ring.pos) and
 * only publishes it; it never reads its own index back from shared memory, so
 * a peer that scribbles on the control words can confuse only itself. A
 * reading of the peer's index that implies more than capacity entries is
 * reported as -EPROTO.
 *
 * Orderings (the words are plain uint32_t in the wire structs, so this uses
 * the GCC __atomic builtins, which follow the C11 memory model):
 *   R1 producer: store-release tail after writing the entries
 *      pairs with A1 consumer: load-acquire tail before reading them.
 *   R2 consumer: store-release head after reading the entries
 *      pairs with A2 producer: load-acquire head before reusing their slots.
 *   S1 waiter: seq_cst store of *_sleepers = 1, then seq_cst load of the index
 *      pairs with S2 waker: seq_cst store of the index (which is also R1/R2),
 *      then seq_cst load of *_sleepers. In the single total order of seq_cst
 *      operations one of the two loads must see the other side's store, so a
 *      waiter never sleeps through a publish. (A store plus a standalone fence
 *      would do as well, but ThreadSanitizer does not model fences.)
 *   Only the waiter lowers its flag, after its wait ends; the waker only reads
 *   it. There is one waiter per flag (a handle's contract, include/hpc/client.h).
 */
#ifndef HPC_IPC_RING_H
#define HPC_IPC_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A process-local view of one ring. */
struct hpci_ring {
	struct hpc_ring_ctl *ctl;
	unsigned char *entries;
	uint32_t mask;  /* capacity - 1 */
	uint32_t esize; /* bytes per entry */
	uint32_t pos;   /* producer: next tail to publish; consumer: next head */
};

/*
 * Set up a view. capacity must be a power of two in [1, 2^31]. The shared
 * indexes must both equal start (0 for a new region).
 */
void hpci_ring_init(struct hpci_ring *r, struct hpc_ring_ctl *ctl, void *entries, uint32_t capacity,
		    uint32_t esize, uint32_t start);

static inline uint32_t hpci_ring_capacity(const struct hpci_ring *r)
{
	return r->mask + 1;
}

/* Address of the entry at index pos + i. */
static inline void *hpci_ring_slot(const struct hpci_ring *r, uint32_t i)
{
	return r->entries + (size_t)((r->pos + i) & r->mask) * r->esize;
}

/* Producer: free slots, or -EPROTO when the consumer's head is impossible. */
static inline int64_t hpci_ring_free(const struct hpci_ring *r)
{
	uint32_t head = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE); /* A2 */
	uint32_t used = r->pos - head;
	if (used > r->mask + 1)
		return -EPROTO;
	return (int64_t)(r->mask + 1 - used);
}

/* Consumer: filled slots, or -EPROTO when the producer's tail is impossible. */
static inline int64_t hpci_ring_avail(const struct hpci_ring *r)
{
	uint32_t tail = __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE); /* A1 */
	uint32_t n = tail - r->pos;
	if (n > r->mask + 1)
		return -EPROTO;
	return (int64_t)n;
}

/*
 * Wake whoever sleeps on *word if *sleepers says someone does. Called right
 * after publishing *word with a seq_cst store (S2). Never writes *sleepers.
 */
void hpci_ring_wake(uint32_t *word, uint32_t *sleepers);

/* Wake any sleeper on *word unconditionally (used to cancel a wait). */
void hpci_ring_wake_all(uint32_t *word);

/* Producer: make n written entries visible and wake a sleeping consumer. */
static inline void hpci_ring_publish(struct hpci_ring *r, uint32_t n)
{
	r->pos += n;
	__atomic_store_n(&r->ctl->tail, r->pos, __ATOMIC_SEQ_CST); /* R1, S2 */
	hpci_ring_wake(&r->ctl->tail, &r->ctl->tail_sleepers);
}

/* Consumer: give n read entries back and wake a producer waiting for space. */
static inline void hpci_ring_release(struct hpci_ring *r, uint32_t n)
{
	r->pos += n;
	__atomic_store_n(&r->ctl->head, r->pos, __ATOMIC_SEQ_CST); /* R2, S2 */
	hpci_ring_wake(&r->ctl->head, &r->ctl->head_sleepers);
}

/*
 * Wait until *word != seen: spin for spin_ns, then sleep on the futex with
 * *sleepers raised. timeout_ns < 0 waits forever. When cancel is not NULL, a
 * nonzero *cancel ends the wait (whoever sets it wakes *word).
 * Returns 0 when the word changed, -ETIMEDOUT, or -ECANCELED.
 */
int hpci_ring_wait_change(uint32_t *word, uint32_t *sleepers, uint32_t seen, uint64_t spin_ns,
			  int64_t timeout_ns, const int *cancel);

/* Consumer: wait until at least one entry is available (see hpci_ring_wait_change). */
static inline int hpci_ring_wait_avail(const struct hpci_ring *r, uint64_t spin_ns,
				       int64_t timeout_ns, const int *cancel)
{
	return hpci_ring_wait_change(&r->ctl->tail, &r->ctl->tail_sleepers, r->pos, spin_ns,
				     timeout_ns, cancel);
}

/* Producer: wait until the consumer has freed a slot of a full ring. */
static inline int hpci_ring_wait_free(const struct hpci_ring *r, uint64_t spin_ns,
				      int64_t timeout_ns, const int *cancel)
{
	return hpci_ring_wait_change(&r->ctl->head, &r->ctl->head_sleepers, r->pos - (r->mask + 1),
				     spin_ns, timeout_ns, cancel);
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t hpci_now_ns(void);

/* A CPU hint for spin loops. */
static inline void hpci_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* HPC_IPC_RING_H */
