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

// The owner's side: what each slot holds, and every eviction it was told of.
struct Owner {
	uint64_t key[HPCB_LRU_MAX] = {};
	std::vector<unsigned> evicted;
};

void Evict(void *ctx, unsigned slot)
{
	auto *o = static_cast<Owner *>(ctx);
	o->evicted.push_back(slot);
	o->key[slot] = 0;
}

bool Match(void *ctx, unsigned slot, const void *key)
{
	return static_cast<Owner *>(ctx)->key[slot] == *static_cast<const uint64_t *>(key);
}

// Look key up; on a miss, put it in a slot of `bytes`. Returns the slot or an error.
int Use(hpcb_lru *l, Owner *o, uint64_t key, size_t bytes, uint64_t keep = 0)
{
	int s = hpcb_lru_find(l, Match, &key);
	if (s >= 0)
		return s;
	s = hpcb_lru_insert(l, bytes, keep);
	if (s >= 0)
		o->key[s] = key;
	return s;
}

TEST(Lru, TheLeastRecentlyUsedGoesFirstWhenTheBudgetIsFull)
{
	Owner o;
	hpcb_lru l;
	ASSERT_EQ(hpcb_lru_init(&l, 8, 100, Evict, &o), 0);
	EXPECT_EQ(Use(&l, &o, 1, 40), 0);
	EXPECT_EQ(Use(&l, &o, 2, 40), 1);
	EXPECT_EQ(Use(&l, &o, 1, 40), 0); // a hit: 1 is now the most recent
	EXPECT_TRUE(o.evicted.empty());
	EXPECT_EQ(l.bytes, 80u);
	// 40 more do not fit: 2, the least recently used, goes.
	EXPECT_EQ(Use(&l, &o, 3, 40), 1);
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 1u);
	EXPECT_EQ(l.bytes, 80u);
	EXPECT_EQ(l.used, 2u);
	uint64_t two = 2;
	EXPECT_EQ(hpcb_lru_find(&l, Match, &two), -ENOENT);
	// 100 bytes take the whole budget: both others go.
	EXPECT_EQ(Use(&l, &o, 4, 100), 0);
	EXPECT_EQ(o.evicted.size(), 3u);
	EXPECT_EQ(l.used, 1u);
	// More than the budget is refused without evicting anything.
	EXPECT_EQ(hpcb_lru_insert(&l, 101, 0), -E2BIG);
	EXPECT_EQ(o.evicted.size(), 3u);
}

TEST(Lru, TheSlotCountBoundsItToo)
{
	Owner o;
	hpcb_lru l;
	ASSERT_EQ(hpcb_lru_init(&l, 3, SIZE_MAX, Evict, &o), 0);
	for (uint64_t k = 1; k <= 3; k++)
		EXPECT_EQ(Use(&l, &o, k, 0), (int)k - 1);
	EXPECT_EQ(Use(&l, &o, 2, 0), 1);
	EXPECT_EQ(Use(&l, &o, 1, 0), 0);
	EXPECT_EQ(Use(&l, &o, 4, 0), 2); // 3 was the least recently used
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 2u);
}

TEST(Lru, KeptSlotsAreNeverEvicted)
{
	Owner o;
	hpcb_lru l;
	ASSERT_EQ(hpcb_lru_init(&l, 2, SIZE_MAX, Evict, &o), 0);
	EXPECT_EQ(Use(&l, &o, 1, 0), 0);
	EXPECT_EQ(Use(&l, &o, 2, 0), 1);
	// Slot 0 is the oldest but in use by the caller: slot 1 goes instead.
	EXPECT_EQ(Use(&l, &o, 3, 0, 1ull << 0), 1);
	EXPECT_EQ(hpcb_lru_insert(&l, 0, (1ull << 0) | (1ull << 1)), -ENOSPC);
	ASSERT_EQ(o.evicted.size(), 1u);
	EXPECT_EQ(o.evicted[0], 1u);
}

TEST(Lru, DropIfEmptiesWhatMatches)
{
	Owner o;
	hpcb_lru l;
	ASSERT_EQ(hpcb_lru_init(&l, 4, 1000, Evict, &o), 0);
	EXPECT_EQ(Use(&l, &o, 7, 10), 0);
	EXPECT_EQ(Use(&l, &o, 8, 20), 1);
	EXPECT_EQ(Use(&l, &o, 7 + 100, 30), 2);
	uint64_t seven = 7;
	EXPECT_EQ(hpcb_lru_drop_if(&l, Match, &seven), 1ull << 0);
	EXPECT_FALSE(hpcb_lru_used(&l, 0));
	EXPECT_TRUE(hpcb_lru_used(&l, 1));
	EXPECT_EQ(l.bytes, 50u);
	hpcb_lru_drop(&l, 1);
	hpcb_lru_drop(&l, 1); // twice: nothing more happens
	EXPECT_EQ(o.evicted.size(), 2u);
	hpcb_lru_clear(&l);
	EXPECT_EQ(o.evicted.size(), 3u);
	EXPECT_EQ(l.bytes, 0u);
	EXPECT_EQ(l.used, 0u);
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
