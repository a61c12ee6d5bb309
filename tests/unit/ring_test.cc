// Rings: arithmetic, wrap-around, corruption detection, the sleep/wake
// protocol, and a stress run that stamps every item (after DPDK's ring
// stress test) to catch lost, duplicated, reordered or torn items, both
// between threads and between processes over a real memfd region.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <linux/futex.h>
#include <sys/syscall.h>

#include <cerrno>

extern "C" {
#include "ipc/region.h"
#include "ipc/ring.h"
#include "ipc/sys.h"
}

namespace
{

struct Item {
	uint64_t seq;
	uint64_t stamp; // producer id
	uint64_t check; // f(seq, stamp): a torn item fails it
	uint64_t pad;
};

uint64_t check_of(uint64_t seq, uint64_t stamp)
{
	return (seq * 0x9E3779B97F4A7C15ull) ^ (stamp << 17) ^ 0xA5A5A5A5u;
}

struct Ring {
	alignas(64) hpc_ring_ctl ctl{};
	std::vector<Item> slots;
	hpci_ring prod{}, cons{};
	explicit Ring(uint32_t cap, uint32_t start = 0) : slots(cap)
	{
		ctl.head = ctl.tail = start;
		hpci_ring_init(&prod, &ctl, slots.data(), cap, sizeof(Item), start);
		hpci_ring_init(&cons, &ctl, slots.data(), cap, sizeof(Item), start);
	}
};

TEST(Ring, FillDrainAndBackPressure)
{
	Ring r(8);
	EXPECT_EQ(hpci_ring_free(&r.prod), 8);
	EXPECT_EQ(hpci_ring_avail(&r.cons), 0);
	for (uint32_t i = 0; i < 8; i++)
		static_cast<Item *>(hpci_ring_slot(&r.prod, i))->seq = i;
	hpci_ring_publish(&r.prod, 8);
	// Full: a producer must see no room, never overwrite.
	EXPECT_EQ(hpci_ring_free(&r.prod), 0);
	EXPECT_EQ(hpci_ring_avail(&r.cons), 8);
	for (uint32_t i = 0; i < 8; i++)
		EXPECT_EQ(static_cast<Item *>(hpci_ring_slot(&r.cons, i))->seq, i);
	hpci_ring_release(&r.cons, 3);
	EXPECT_EQ(hpci_ring_free(&r.prod), 3);
	EXPECT_EQ(hpci_ring_avail(&r.cons), 5);
}

TEST(Ring, WrapsAroundTheCounter)
{
	// Start just below 2^32 so that head and tail wrap during the test.
	Ring r(4, UINT32_MAX - 5);
	uint64_t next = 0, expect = 0;
	for (int round = 0; round < 20; round++) {
		int64_t room = hpci_ring_free(&r.prod);
		ASSERT_GT(room, 0);
		for (int64_t i = 0; i < room; i++)
			static_cast<Item *>(hpci_ring_slot(&r.prod, (uint32_t)i))->seq = next++;
		hpci_ring_publish(&r.prod, (uint32_t)room);
		int64_t n = hpci_ring_avail(&r.cons);
		ASSERT_EQ(n, room);
		for (int64_t i = 0; i < n; i++)
			ASSERT_EQ(static_cast<Item *>(hpci_ring_slot(&r.cons, (uint32_t)i))->seq,
				  expect++);
		hpci_ring_release(&r.cons, (uint32_t)n);
	}
	EXPECT_LT(r.ctl.tail, 100u); // it did wrap
}

TEST(Ring, ImpossibleIndexesAreReported)
{
	Ring r(8);
	r.ctl.tail = 9; // a peer claiming more entries than the ring holds
	EXPECT_EQ(hpci_ring_avail(&r.cons), -EPROTO);
	r.ctl.tail = 0;
	r.ctl.head = 5; // a consumer "ahead" of the producer
	EXPECT_EQ(hpci_ring_free(&r.prod), -EPROTO);
}

TEST(Ring, WaitTimesOutAndIsCancelled)
{
	Ring r(4);
	uint64_t t0 = hpci_now_ns();
	EXPECT_EQ(hpci_ring_wait_avail(&r.cons, 1000, 20 * 1000 * 1000, nullptr), -ETIMEDOUT);
	EXPECT_GE(hpci_now_ns() - t0, 20u * 1000 * 1000);

	int cancel = 0;
	std::thread t([&] {
		usleep(20000);
		__atomic_store_n(&cancel, 1, __ATOMIC_RELEASE);
		hpci_ring_wake_all(&r.ctl.tail);
	});
	EXPECT_EQ(hpci_ring_wait_avail(&r.cons, 0, -1, &cancel), -ECANCELED);
	t.join();
}

TEST(Ring, SleeperIsWokenByPublish)
{
	Ring r(4);
	std::thread t([&] {
		usleep(30000); // long past the spin phase: the consumer sleeps
		hpci_ring_publish(&r.prod, 1);
	});
	EXPECT_EQ(hpci_ring_wait_avail(&r.cons, 1000, 5ll * 1000 * 1000 * 1000, nullptr), 0);
	EXPECT_EQ(hpci_ring_avail(&r.cons), 1);
	t.join();
}

// A peer running flat out that leaves the other side asleep this long has
// lost a wake-up: counted as an error, where an unbounded wait would hang.
constexpr int64_t kStallNs = 5ll * 1000 * 1000 * 1000;

// Producer and consumer run flat out; every item is stamped and checked.
void stress(hpci_ring *prod, hpci_ring *cons, uint64_t items, uint64_t spin_ns, uint64_t stamp,
	    bool produce_here, bool consume_here, uint64_t *errors)
{
	std::atomic<int> stalls{0};
	std::thread producer;
	if (produce_here) {
		producer = std::thread([=, &stalls] {
			uint64_t seq = 0;
			while (seq < items) {
				int64_t room = hpci_ring_free(prod);
				if (room <= 0) {
					if (hpci_ring_wait_free(prod, spin_ns, kStallNs, nullptr) ==
					    -ETIMEDOUT)
						stalls++;
					continue;
				}
				uint32_t k =
				    (uint32_t)std::min<uint64_t>((uint64_t)room, items - seq);
				k = std::min<uint32_t>(k,
						       1 + (uint32_t)(seq % 5)); // vary batch sizes
				for (uint32_t i = 0; i < k; i++) {
					Item *it = static_cast<Item *>(hpci_ring_slot(prod, i));
					it->seq = seq + i;
					it->stamp = stamp;
					it->check = check_of(seq + i, stamp);
				}
				hpci_ring_publish(prod, k);
				seq += k;
			}
		});
	}
	if (consume_here) {
		uint64_t expect = 0;
		while (expect < items) {
			int64_t n = hpci_ring_avail(cons);
			if (n < 0) {
				(*errors)++;
				break;
			}
			if (n == 0) {
				if (hpci_ring_wait_avail(cons, spin_ns, kStallNs, nullptr) ==
				    -ETIMEDOUT)
					stalls++;
				continue;
			}
			for (int64_t i = 0; i < n; i++) {
				Item it = *static_cast<Item *>(hpci_ring_slot(cons, (uint32_t)i));
				if (it.seq != expect || it.stamp != stamp ||
				    it.check != check_of(it.seq, it.stamp))
					(*errors)++;
				expect++;
			}
			hpci_ring_release(cons, (uint32_t)n);
		}
	}
	if (producer.joinable())
		producer.join();
	EXPECT_EQ(stalls.load(), 0) << "a side slept through its peer's publish";
}

TEST(RingStress, ThreadsSpinning)
{
	Ring r(16);
	uint64_t errors = 0;
	stress(&r.prod, &r.cons, 2000000, 50000, 7, true, true, &errors);
	EXPECT_EQ(errors, 0u);
}

TEST(RingStress, ThreadsAlwaysSleeping)
{
	// No spin budget: every wait goes through the futex, exercising the
	// sleepers handshake (a lost wake-up would hang this test).
	Ring r(4);
	uint64_t errors = 0;
	stress(&r.prod, &r.cons, 200000, 0, 11, true, true, &errors);
	EXPECT_EQ(errors, 0u);
}

TEST(RingStress, TwoProcessesOverAMemfdRegion)
{
	hpc_region_hdr layout;
	ASSERT_EQ(hpci_region_layout(4096, 8, 8, &layout), 0);
	hpci_region reg;
	ASSERT_EQ(hpci_region_create(&layout, "ring-test", 0, &reg), 0);
	// The SQ ring carries 128-byte entries; we use its slots for Items.
	const uint64_t items = 300000;
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		hpci_ring prod;
		hpci_region_sq(&reg, &prod);
		uint64_t none = 0;
		stress(&prod, nullptr, items, 20000, 3, true, false, &none);
		_exit(0);
	}
	hpci_ring cons;
	hpci_region_sq(&reg, &cons);
	uint64_t errors = 0;
	stress(nullptr, &cons, items, 20000, 3, false, true, &errors);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(errors, 0u);
	hpci_region_unmap(&reg);
}

// ---- The futex seam (ipc/sys.h): the sleep/wake protocol seen from the system calls ----

std::atomic<int> futex_waits{0}, futex_wakes{0};

long counting_futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *timeout)
{
	(op == FUTEX_WAIT ? futex_waits : futex_wakes)++;
	return syscall(SYS_futex, uaddr, op, val, timeout, nullptr, 0);
}

TEST(RingFutex, PublishMakesASystemCallOnlyForASleeper)
{
	futex_waits = futex_wakes = 0;
	hpci_sys.futex = counting_futex;
	Ring r(8);
	// Nobody sleeps: back-to-back publishes never enter the kernel.
	for (int i = 0; i < 5; i++) {
		hpci_ring_publish(&r.prod, 1);
		hpci_ring_release(&r.cons, 1);
	}
	EXPECT_EQ(futex_wakes.load(), 0);
	// A consumer that stopped spinning sleeps in FUTEX_WAIT; one publish wakes it.
	std::atomic<int> rc{1};
	std::thread waiter(
	    [&] { rc = hpci_ring_wait_avail(&r.cons, 0, 10ll * 1000 * 1000 * 1000, nullptr); });
	while (!__atomic_load_n(&r.ctl.tail_sleepers, __ATOMIC_SEQ_CST) || futex_waits.load() == 0)
		std::this_thread::yield();
	hpci_ring_publish(&r.prod, 1);
	waiter.join();
	EXPECT_EQ(rc.load(), 0);
	EXPECT_GE(futex_wakes.load(), 1);
	hpci_sys_reset();
}

TEST(RingFutex, AWakerNeverLowersTheSleepersFlag)
{
	// The interleaving this guards against: the waker loads the flag raised by
	// the waiter's round k, the waiter wakes and raises it again for round
	// k + 1 and checks the index, then the waker lowers it; the waiter sleeps
	// and the next publish sees no sleeper. Only the waiter may lower its flag.
	futex_waits = futex_wakes = 0;
	hpci_sys.futex = counting_futex;
	Ring r(8);
	__atomic_store_n(&r.ctl.tail_sleepers, 1, __ATOMIC_SEQ_CST); // round k + 1's flag
	hpci_ring_publish(&r.prod, 1);
	EXPECT_EQ(__atomic_load_n(&r.ctl.tail_sleepers, __ATOMIC_SEQ_CST), 1u);
	EXPECT_EQ(futex_wakes.load(), 1);
	hpci_ring_publish(&r.prod, 1); // still raised: still woken
	EXPECT_EQ(futex_wakes.load(), 2);
	// A waiter lowers it when its wait ends, so publishes go quiet again.
	hpci_ring_release(&r.cons, 2);
	EXPECT_EQ(hpci_ring_wait_avail(&r.cons, 0, 20ll * 1000 * 1000, nullptr), -ETIMEDOUT);
	EXPECT_GE(futex_waits.load(), 1);
	EXPECT_EQ(__atomic_load_n(&r.ctl.tail_sleepers, __ATOMIC_SEQ_CST), 0u);
	hpci_ring_publish(&r.prod, 1);
	EXPECT_EQ(futex_wakes.load(), 2);
	hpci_sys_reset();
}

long spurious_futex(uint32_t *, int, uint32_t, const struct timespec *)
{
	errno = EINTR; // every wait returns at once, as after a signal
	return -1;
}

TEST(RingFutex, AFutexThatNeverSleepsStillHonoursTheDeadlineAndTheIndex)
{
	hpci_sys.futex = spurious_futex;
	Ring r(8);
	uint64_t t0 = hpci_now_ns();
	EXPECT_EQ(hpci_ring_wait_avail(&r.cons, 0, 50ll * 1000 * 1000, nullptr), -ETIMEDOUT);
	EXPECT_GE(hpci_now_ns() - t0, 50ull * 1000 * 1000);
	// A change made meanwhile is still seen (the wait re-checks after each return).
	std::atomic<int> rc{1};
	std::thread waiter(
	    [&] { rc = hpci_ring_wait_avail(&r.cons, 0, 10ll * 1000 * 1000 * 1000, nullptr); });
	usleep(20 * 1000);
	hpci_ring_publish(&r.prod, 1);
	waiter.join();
	EXPECT_EQ(rc.load(), 0);
	hpci_sys_reset();
}

} // namespace
