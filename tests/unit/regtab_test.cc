// Region tables of the backends (plugins/base/regtab.h): id sets in age
// order, and regions mapped from a memfd, one mapping per id.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

extern "C" {
#include "plugins/base/regtab.h"
}

namespace
{

TEST(IdSet, KeepsOneOfEachOldestFirst)
{
	hpcb_idset s = {};
	for (uint64_t id : {5, 6, 5, 7, 8})
		ASSERT_EQ(hpcb_idset_add(&s, id), 0);
	ASSERT_EQ(s.n, 4u);
	EXPECT_TRUE(hpcb_idset_has(&s, 7));
	hpcb_idset_del(&s, 6);
	hpcb_idset_del(&s, 42);
	ASSERT_EQ(s.n, 3u);
	EXPECT_EQ(s.v[0], 5u); // the oldest stays first
	EXPECT_EQ(s.v[1], 7u);
	uint64_t id = 0;
	EXPECT_TRUE(hpcb_idset_pop(&s, &id));
	EXPECT_EQ(id, 8u);
	hpcb_idset_clear(&s);
	EXPECT_FALSE(hpcb_idset_pop(&s, &id));
	EXPECT_FALSE(hpcb_idset_has(&s, 5));
	hpcb_idset_free(&s);
	EXPECT_EQ(s.v, nullptr);
}

int Memfd(size_t size)
{
	int fd = memfd_create("regtab-test", MFD_CLOEXEC);
	EXPECT_GE(fd, 0);
	EXPECT_EQ(ftruncate(fd, (off_t)size), 0);
	return fd;
}

bool IsOpen(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

TEST(RegTab, MapsSharedOnePerId)
{
	hpcb_regtab t = {};
	int fd = Memfd(8192);
	int probe = dup(fd);
	ASSERT_EQ(hpcb_regtab_map(&t, 1, fd, 0, false), 0);
	EXPECT_FALSE(IsOpen(fd)); // taken and closed
	hpcb_region *r = hpcb_regtab_find(&t, 1);
	ASSERT_NE(r, nullptr);
	EXPECT_EQ(r->size, 8192u);
	EXPECT_EQ(r->fd, -1);
	memcpy(r->base + 100, "shared", 6);
	char back[6];
	ASSERT_EQ(pread(probe, back, 6, 100), 6);
	EXPECT_EQ(memcmp(back, "shared", 6), 0);

	// The same id again replaces the mapping; keep_fd keeps the fd with it.
	int again = dup(probe);
	ASSERT_EQ(hpcb_regtab_map(&t, 1, again, 4096, true), 0);
	ASSERT_EQ(t.n, 1u);
	r = hpcb_regtab_find(&t, 1);
	EXPECT_EQ(r->size, 4096u);
	EXPECT_EQ(r->fd, again);
	EXPECT_TRUE(IsOpen(again));
	ASSERT_EQ(hpcb_regtab_map(&t, 2, dup(probe), 0, false), 0);
	EXPECT_EQ(t.n, 2u);
	hpcb_regtab_drop(&t, 1);
	EXPECT_FALSE(IsOpen(again));
	EXPECT_EQ(hpcb_regtab_find(&t, 1), nullptr);
	EXPECT_NE(hpcb_regtab_find(&t, 2), nullptr);
	hpcb_regtab_free(&t);
	EXPECT_EQ(t.n, 0u);
	close(probe);
}

TEST(RegTab, AnEmptyFileIsRefusedAndItsFdClosed)
{
	hpcb_regtab t = {};
	int fd = Memfd(0);
	EXPECT_EQ(hpcb_regtab_map(&t, 3, fd, 0, true), -EINVAL);
	EXPECT_FALSE(IsOpen(fd));
	EXPECT_EQ(t.n, 0u);
	hpcb_regtab_free(&t);
}

} // namespace
