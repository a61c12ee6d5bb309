// The SVG timeline renderer (timeline/svg.h): one row per worker pid, one
// rectangle per chunk attempt labelled with its index, failed attempts
// marked, a time axis in ms, XML escaping, and the empty case.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "timeline/svg.h"
}

namespace
{

std::string Render(const std::vector<hpc_chunk_rec> &recs, const char *title)
{
	char *buf = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	EXPECT_NE(f, nullptr);
	EXPECT_EQ(hpc_timeline_svg(f, recs.data(), recs.size(), title), 0);
	fclose(f);
	std::string s(buf, len);
	free(buf);
	return s;
}

size_t Count(const std::string &s, const std::string &what)
{
	size_t n = 0;
	for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
		n++;
	return n;
}

hpc_chunk_rec Rec(uint32_t pid, uint16_t worker, uint32_t chunk, double start_ms, double end_ms,
		  bool failed = false, uint8_t attempt = 1)
{
	hpc_chunk_rec r{};
	r.pid = pid;
	r.worker = worker;
	r.chunk = chunk;
	r.attempt = attempt;
	r.flags = failed ? HPC_CHUNK_FAILED : 0;
	r.first = chunk * 100;
	r.count = 100;
	r.start_ns = (uint64_t)(1e9 + start_ms * 1e6);
	r.end_ns = (uint64_t)(1e9 + end_ms * 1e6);
	return r;
}

TEST(TimelineSvg, RowsPerPidChunksLabelledAxisInMs)
{
	std::vector<hpc_chunk_rec> recs = {
	    Rec(101, 0, 0, 0, 10),
	    Rec(202, 1, 1, 0, 12),
	    Rec(101, 0, 2, 10, 20),
	    Rec(202, 1, 3, 12, 30, true), // killed: its chunk ran again on the replacement
	    Rec(303, 1, 3, 31, 40, false, 2),
	};
	std::string s = Render(recs, "matvec <dynamic> & co");
	EXPECT_EQ(s.rfind("<?xml", 0), 0u);
	EXPECT_NE(s.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
	EXPECT_EQ(s.substr(s.size() - 7), "</svg>\n");
	EXPECT_NE(s.find("matvec &lt;dynamic&gt; &amp; co"), std::string::npos);
	// One row per pid (the replacement gets its own), in worker order.
	EXPECT_EQ(Count(s, "class=\"row\""), 3u);
	size_t p101 = s.find("worker 0, pid 101"), p202 = s.find("worker 1, pid 202"),
	       p303 = s.find("worker 1, pid 303");
	ASSERT_NE(p101, std::string::npos);
	ASSERT_NE(p202, std::string::npos);
	ASSERT_NE(p303, std::string::npos);
	EXPECT_LT(p101, p202);
	EXPECT_LT(p202, p303);
	// One rectangle per attempt, the failed one marked; labels are the chunk indexes.
	EXPECT_EQ(Count(s, "class=\"chunk"), 5u);
	EXPECT_EQ(Count(s, "class=\"chunk failed\""), 1u);
	EXPECT_NE(s.find(">0</text>"), std::string::npos);
	EXPECT_NE(s.find(">2</text>"), std::string::npos);
	EXPECT_NE(s.find(">x3</text>"), std::string::npos);
	EXPECT_NE(s.find("chunk 3 FAILED"), std::string::npos);
	// Axis: 40 ms of span in ticks of 5 ms, labelled in ms.
	EXPECT_NE(s.find("time since the first start (ms)"), std::string::npos);
	EXPECT_EQ(Count(s, "class=\"tick\""), 9u);
	EXPECT_NE(s.find(">40</text>"), std::string::npos);
	EXPECT_NE(s.find("40.000 ms from the first start"), std::string::npos);
	// Busy time per worker pid.
	EXPECT_NE(s.find("pid 101 20.000 ms (50%)"), std::string::npos) << s;
}

TEST(TimelineSvg, ChunkPositionsAreProportionalToTime)
{
	std::vector<hpc_chunk_rec> recs = {Rec(1, 0, 0, 0, 50), Rec(1, 0, 1, 50, 100)};
	std::string s = Render(recs, "t");
	// The plot spans x = 170 .. 980: the second chunk starts half way.
	EXPECT_NE(s.find("x=\"170.00\" y=\"60.0\" width=\"405.00\""), std::string::npos) << s;
	EXPECT_NE(s.find("x=\"575.00\" y=\"60.0\" width=\"405.00\""), std::string::npos) << s;
}

TEST(TimelineSvg, EmptyAndBadArguments)
{
	std::string s = Render({}, nullptr);
	EXPECT_NE(s.find("no chunks"), std::string::npos);
	EXPECT_NE(s.find("job timeline"), std::string::npos);
	EXPECT_EQ(s.substr(s.size() - 7), "</svg>\n");
	EXPECT_EQ(hpc_timeline_svg(nullptr, nullptr, 0, "x"), -EINVAL);
	EXPECT_EQ(hpc_timeline_svg(stdout, nullptr, 3, "x"), -EINVAL);
	EXPECT_LT(hpc_timeline_svg_file("/nonexistent/dir/t.svg", nullptr, 0, "x"), 0);
	std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
			   "/timeline_test.svg";
	std::vector<hpc_chunk_rec> recs = {Rec(7, 0, 0, 0, 1)};
	EXPECT_EQ(hpc_timeline_svg_file(path.c_str(), recs.data(), recs.size(), "file"), 0);
	FILE *f = fopen(path.c_str(), "r");
	ASSERT_NE(f, nullptr);
	char head[6] = "";
	EXPECT_EQ(fread(head, 1, 5, f), 5u);
	fclose(f);
	EXPECT_STREQ(head, "<?xml");
}

} // namespace
