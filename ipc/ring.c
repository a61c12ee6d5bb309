#include "ipc/ring.h"

#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <time.h>

#include "ipc/sys.h"

#define HPC_RING_YIELD_AFTER_NS 300u

void hpci_ring_init(struct hpci_ring *r, struct hpc_ring_ctl *ctl, void *entries, uint32_t capacity,
		    uint32_t esize, uint32_t start)
{
	r->ctl = ctl;
	r->entries = entries;
	r->mask = capacity - 1;
	r->esize = esize;
	r->pos = start;
}

uint64_t hpci_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hpci_ring_wake(uint32_t *word, uint32_t *sleepers)
{
	/* S2: pairs with S1 in the waiter. The waker only reads the flag: the
	 * waiter alone lowers it, after its wait. A waker that cleared it here
	 * could erase a flag raised by the waiter's next round between this load
	 * and that store, whose futex wait would then sleep through every later
	 * publish (a lost wake-up, seen under TSan in RingStress). */
	if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST))
		hpci_sys.futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

void hpci_ring_wake_all(uint32_t *word)
{
	hpci_sys.futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

static bool cancelled(const int *cancel)
{
	return cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE);
}

static int wait_sleeping(uint32_t *word, uint32_t *sleepers, uint32_t seen, uint64_t deadline,
			 const int *cancel)
{
	for (;;) {
		if (cancelled(cancel))
			return -ECANCELED;
		uint64_t now = hpci_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		__atomic_store_n(sleepers, 1, __ATOMIC_SEQ_CST);     /* S1 */
		if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != seen) /* S1: pairs with S2 */
			return 0;
		struct timespec ts, *tsp = NULL;
		if (deadline != UINT64_MAX) {
			uint64_t left = deadline - now;
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			tsp = &ts;
		}
		/* Not FUTEX_PRIVATE: the word is shared with another process. */
		hpci_sys.futex(word, FUTEX_WAIT, seen, tsp);
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
			return 0;
	}
}

int hpci_ring_wait_change(uint32_t *word, uint32_t *sleepers, uint32_t seen, uint64_t spin_ns,
			  int64_t timeout_ns, const int *cancel)
{
	uint64_t start = hpci_now_ns();
	uint64_t spin_end = start + spin_ns;
	uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : start + (uint64_t)timeout_ns;
	if (spin_end > deadline)
		spin_end = deadline;

	/* Spin phase: back-to-back work is caught within a fraction of a microsecond,
	 * where a futex hand-off across cores costs ~20 us on these machines. */
	for (unsigned i = 0;; i++) {
		if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
			return 0;
		if ((i & 15) == 15) {
			if (cancelled(cancel))
				return -ECANCELED;
			uint64_t now = hpci_now_ns();
			if (now >= spin_end)
				break;
			/* Past the first few hundred ns, give the CPU to a runnable peer:
			 * the scheduler often wakes the other side on this very CPU,
			 * where a pure spin would hold it off until the spin ends. */
			if (now - start > HPC_RING_YIELD_AFTER_NS)
				sched_yield();
		}
		hpci_cpu_relax();
	}

	int rc = wait_sleeping(word, sleepers, seen, deadline, cancel);
	/* Lowered by its owner only, in program order before any later raise. A
	 * flag left up costs the waker a futex call per publish, never a wake-up. */
	__atomic_store_n(sleepers, 0, __ATOMIC_RELAXED);
	return rc;
}
