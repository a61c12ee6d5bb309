// tests/common/plugin_harness.h - drive the real plugin .so files the way the
// daemon does, for every backend's test suite (//tests/common:plugin_harness):
//
//  - find libhpc_NAME.so among the test's runfiles and dlopen it
//    (RTLD_NOW | RTLD_LOCAL), fetch its entry point, check its ops table;
//  - open instances with settings (struct hpc_open_args), with a host table
//    that keeps what the plugin logs;
//  - jobs over caller-owned memory (MakeJob), or over a real client region:
//    a sealed memfd made by //ipc (hpci_region_layout, hpci_region_create),
//    with struct hpc_job built as daemon/session.c run_job() builds it
//    (pointers into the arena plus the region's fd, id, arena offset,
//    operand offsets and generations).
//
// Shapes, random operands and the bound against serial: numerics.h. Processes
// (alive, command lines, mappings): procs.h. Both come with this header.
#ifndef HPC_TESTS_COMMON_PLUGIN_HARNESS_H
#define HPC_TESTS_COMMON_PLUGIN_HARNESS_H

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "ipc/region.h"
#include "tests/common/numerics.h"
#include "tests/common/procs.h"

namespace hpctest
{

// ---- files ---------------------------------------------------------------------

// Path of a file among the test's runfiles (workspace "hpcd"), e.g.
// Runfile("plugins/hpc_mpi_worker"); bazel-bin/REL outside a test.
std::string Runfile(const std::string &rel);

// Path of libhpc_NAME.so among the runfiles.
std::string PluginPath(const std::string &name);

// A fresh folder under $TEST_TMPDIR (or /tmp); the base itself if mkdtemp fails.
std::string TempDir(const std::string &prefix = "hpctest");

// ---- loading ---------------------------------------------------------------------

// dlopen()s the plugin file at path as the daemon does and fetches its table;
// returns the handle, or nullptr with *error saying why.
void *LoadPluginFile(const std::string &path, const hpc_plugin_ops **ops, std::string *error);

// The same for libhpc_NAME.so among the runfiles.
void *LoadPlugin(const std::string &name, const hpc_plugin_ops **ops, std::string *error);

struct Loaded {
	void *handle = nullptr;
	const hpc_plugin_ops *ops = nullptr;
	std::string error;
};

// libhpc_NAME.so, loaded once for the whole test program as the daemon would
// (never unloaded). Safe from several threads.
const Loaded &Plugin(const std::string &name);

// Its ops table; a test failure (and nullptr) when it does not load.
const hpc_plugin_ops *Ops(const std::string &name);

// The fields every plugin's table must have: the ABI version and build
// signature first, the name of its file, version 0.1.0, every op on f64 and
// f32, open, run, close and describe, and exactly these settings keys.
void ExpectOpsTable(const hpc_plugin_ops *ops, const std::string &name,
		    const std::vector<std::string> &settings);

// The version script leaves the entry point as the only export: none of internal is visible.
void ExpectExportsOnlyTheEntryPoint(void *handle, const std::vector<std::string> &internal);

// ---- the host table ------------------------------------------------------------------

// A struct hpc_host whose log() keeps every line (and, with echo, prints it
// to stderr as "[plugin] ..."). Safe from several threads; not movable, since
// the table points back at it.
class HostLog
{
      public:
	explicit HostLog(bool echo = false);
	HostLog(const HostLog &) = delete;
	HostLog &operator=(const HostLog &) = delete;

	const hpc_host *host() const
	{
		return &host_;
	}
	std::vector<std::string> Lines() const;
	// Every line, each ended by "\n".
	std::string All() const;
	void Clear();

      private:
	__attribute__((format(printf, 3, 4))) static void Log(const hpc_host *h, int level,
							      const char *fmt, ...);
	hpc_host host_{};
	bool echo_;
	mutable std::mutex mu_;
	std::vector<std::string> lines_;
};

// ---- instances -----------------------------------------------------------------------

// One opened instance of a plugin, as the daemon opens a [backend NAME]
// section: settings numbered as config lines 1, 2, ...; closed on
// destruction (or Close()). A null ops table opens nothing: rc() is -ENOENT.
class Instance
{
      public:
	using Settings = std::vector<std::pair<std::string, std::string>>;

	Instance(const hpc_plugin_ops *ops, const Settings &settings, HostLog *log = nullptr,
		 const char *config_dir = ".");
	~Instance()
	{
		Close();
	}
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

	void Close();
	int rc() const
	{
		return rc_;
	}
	std::string err() const
	{
		return err_;
	}
	int32_t err_setting() const
	{
		return err_setting_;
	}
	void *state() const
	{
		return state_;
	}
	const hpc_plugin_ops *ops() const
	{
		return ops_;
	}

	int Run(hpc_job *job) const
	{
		return ops_->run(state_, job);
	}
	void Forget(uint64_t region_id) const
	{
		ops_->forget_region(state_, region_id);
	}
	// describe()'s text, or "describe failed: RC".
	std::string Describe() const;
	// The value of describe()'s "key=value" field ("" if there is none).
	std::string DescribeField(const std::string &key) const;
	// A numeric field of describe() ("created=3"), or -1 if there is none.
	long long Counter(const std::string &key) const;

      private:
	const hpc_plugin_ops *ops_;
	void *state_ = nullptr;
	int rc_ = -1;
	bool closed_ = false;
	char err_[1024] = "";
	int32_t err_setting_ = -1;
};

// ---- jobs ------------------------------------------------------------------------------

// A job over caller-owned operands (no region: region_fd -1); the result is
// preset to NaN so that a backend that forgets to write it fails every comparison.
hpc_job MakeJob(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k, const void *a,
		const void *b, void *out, double alpha);

// A client region as the daemon makes it (a sealed memfd from
// hpci_region_create), with a bump allocator over its arena. A failure to make
// it is a test failure, and ok() is false.
class Region
{
      public:
	// id: the region id the daemon would give it; 0 picks a fresh one.
	explicit Region(uint64_t arena_bytes, const std::string &name = "hpctest", uint64_t id = 0);
	~Region();
	Region(const Region &) = delete;
	Region &operator=(const Region &) = delete;

	bool ok() const
	{
		return ok_;
	}
	uint64_t id() const
	{
		return id_;
	}
	unsigned char *arena() const
	{
		return r_.arena;
	}
	template <typename T> T *At(uint64_t off) const
	{
		return reinterpret_cast<T *>(r_.arena + off);
	}

	// Offset of `bytes` fresh bytes in the arena (64-byte aligned); a test
	// failure when the arena is too small.
	uint64_t Alloc(uint64_t bytes);
	void Reset()
	{
		used_ = 0;
	}

	// A job over arena offsets, as daemon/session.c run_job() builds it.
	hpc_job Job(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k, uint64_t a_off,
		    uint64_t b_off, uint64_t out_off, double alpha, bool has_b, bool has_out,
		    uint64_t a_gen = 0, uint64_t b_gen = 0) const;

      private:
	hpci_region r_{};
	bool ok_ = false;
	uint64_t id_;
	uint64_t used_ = 0;
};

} // namespace hpctest

#endif // HPC_TESTS_COMMON_PLUGIN_HARNESS_H
