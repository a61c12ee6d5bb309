// The LRU cache of the backends (plugins/base/lru.h): least recently used
// out first, within a byte budget and a slot count, never a slot the caller
// keeps, and the owner told of every slot that goes.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <vector>

extern "C" {
#include "plugins/base/lru.h"
}

namespace
{

// The owner's side: the cache, what each slot holds, and every eviction it was told of.
struct Owner {
	hpcb_lru l;
	uint64_t key[HPCB_LRU_MAX] = {};
	std::vector<unsigned> evicted;

	Owner(unsigned nslots, size_t budget)
	{
		EXPECT_EQ(hpcb_lru_init(&l, nslots, budget, Evict, this), 0);
	}

	static void Evict(void *ctx, unsigned slot)
	{
		auto *o = static_cast<Owner *>(ctx);
		o->evicted.push_back(slot);
		o->key[slot] = 0;
	}

	static bool Match(void *ctx, unsigned slot, const void *key)
	{
		return static_cast<Owner *>(ctx)->key[slot] == *static_cast<const uint64_t *>(key);
	}

	// Look key up; on a miss, put it in a slot of `bytes`. Returns the slot or an error.
	int Use(uint64_t k, size_t bytes, uint64_t keep = 0)
	{
		int s = hpcb_lru_find(&l, Match, &k);
		if (s >= 0)
			return s;
		s = hpcb_lru_insert(&l, bytes, keep);
		if (s >= 0)
			key[s] = k;
		return s;
	}

	bool Has(uint64_t k)
	{
		return hpcb_lru_find(&l, Match, &k) >= 0;
	}
};

TEST(Lru, TheLeastRecentlyUsedGoesFirstWhenTheBudgetIsFull)
{
	Owner o(8, 100);
	EXPECT_EQ(o.Use(1, 40), 0);
	EXPECT_EQ(o.Use(2, 40), 1);
	EXPECT_EQ(o.Use(1, 40), 0); // a hit: 1 is now the most recent
	EXPECT_TRUE(o.evicted.empty());
	EXPECT_EQ(o.l.bytes, 80u);
	// 40 more do not fit: 2, the least recently used, goes.
	EXPECT_EQ(o.Use(3, 40), 1);
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 1u);
	EXPECT_EQ(o.l.bytes, 80u);
	EXPECT_EQ(o.l.used, 2u);
	EXPECT_FALSE(o.Has(2));
	// 100 bytes take the whole budget: both others go.
	EXPECT_EQ(o.Use(4, 100), 0);
	EXPECT_EQ(o.evicted.size(), 3u);
	EXPECT_EQ(o.l.used, 1u);
	// More than the budget is refused without evicting anything.
	EXPECT_EQ(hpcb_lru_insert(&o.l, 101, 0), -E2BIG);
	EXPECT_EQ(o.evicted.size(), 3u);
}

TEST(Lru, TheSlotCountBoundsItToo)
{
	Owner o(3, SIZE_MAX);
	for (uint64_t k = 1; k <= 3; k++)
		EXPECT_EQ(o.Use(k, 0), (int)k - 1);
	EXPECT_EQ(o.Use(2, 0), 1);
	EXPECT_EQ(o.Use(1, 0), 0);
	EXPECT_EQ(o.Use(4, 0), 2); // 3 was the least recently used
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 2u);
}

TEST(Lru, KeptSlotsAreNeverEvicted)
{
	Owner o(2, SIZE_MAX);
	EXPECT_EQ(o.Use(1, 0), 0);
	EXPECT_EQ(o.Use(2, 0), 1);
	// Slot 0 is the oldest but in use by the caller: slot 1 goes instead.
	EXPECT_EQ(o.Use(3, 0, 1ull << 0), 1);
	EXPECT_EQ(hpcb_lru_insert(&o.l, 0, (1ull << 0) | (1ull << 1)), -ENOSPC);
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 1u);
}

TEST(Lru, DropIfEmptiesWhatMatches)
{
	Owner o(4, 1000);
	EXPECT_EQ(o.Use(7, 10), 0);
	EXPECT_EQ(o.Use(8, 20), 1);
	EXPECT_EQ(o.Use(7 + 100, 30), 2);
	uint64_t seven = 7;
	EXPECT_EQ(hpcb_lru_drop_if(&o.l, Owner::Match, &seven), 1ull << 0);
	EXPECT_FALSE(hpcb_lru_used(&o.l, 0));
	EXPECT_TRUE(hpcb_lru_used(&o.l, 1));
	EXPECT_EQ(o.l.bytes, 50u);
	hpcb_lru_drop(&o.l, 1);
	hpcb_lru_drop(&o.l, 1); // twice: nothing more happens
	EXPECT_EQ(o.evicted.size(), 2u);
	hpcb_lru_clear(&o.l);
	EXPECT_EQ(o.evicted.size(), 3u);
	EXPECT_EQ(o.l.bytes, 0u);
	EXPECT_EQ(o.l.used, 0u);
}

TEST(Lru, ZeroSlotsKeepNothing)
{
	hpcb_lru l;
	ASSERT_EQ(hpcb_lru_init(&l, 0, SIZE_MAX, nullptr, nullptr), 0);
	EXPECT_EQ(hpcb_lru_insert(&l, 0, 0), -ENOSPC);
	EXPECT_EQ(hpcb_lru_init(&l, HPCB_LRU_MAX + 1, SIZE_MAX, nullptr, nullptr), -EINVAL);
	ASSERT_EQ(hpcb_lru_init(&l, HPCB_LRU_MAX, SIZE_MAX, nullptr, nullptr), 0);
	for (int i = 0; i < HPCB_LRU_MAX; i++)
		EXPECT_EQ(hpcb_lru_insert(&l, 1, 0), i);
	EXPECT_EQ(hpcb_lru_insert(&l, 1, ~0ull), -ENOSPC);
}

} // namespace
