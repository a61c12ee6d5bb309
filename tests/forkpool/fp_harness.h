// tests/forkpool/fp_harness.h - drive the real forkpool plugin the way the
// daemon does: dlopen(RTLD_NOW | RTLD_LOCAL) of libhpc_forkpool.so, a real
// sealed memfd region (ipc/region.h) holding the operands, and struct
// hpc_job filled with region_fd / region_id / arena_off / offsets as
// daemon/session.c fills it.
#ifndef HPC_TESTS_FORKPOOL_HARNESS_H
#define HPC_TESTS_FORKPOOL_HARNESS_H

#include <dlfcn.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "ipc/region.h"

namespace fpt {

inline std::string PluginPath(const std::string &name)
{
	const char *srcdir = std::getenv("TEST_SRCDIR");
	std::string dir = srcdir ? std::string(srcdir) + "/hpcd/plugins/" : "bazel-bin/plugins/";
	return dir + "libhpc_" + name + ".so";
}

// The forkpool plugin, loaded once per test program as the daemon would.
inline const hpc_plugin_ops *Ops()
{
	static const hpc_plugin_ops *ops = [] {
		void *h = dlopen(PluginPath("forkpool").c_str(), RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			ADD_FAILURE() << dlerror();
			return (const hpc_plugin_ops *)nullptr;
		}
		auto entry = reinterpret_cast<hpc_plugin_entry_fn>(dlsym(h, HPC_PLUGIN_ENTRY_NAME));
		return entry ? entry() : nullptr;
	}();
	return ops;
}

// Log lines of every instance, as the daemon's host->log would print them.
struct Log {
	std::mutex mu;
	std::vector<std::string> lines;
	static Log &Get()
	{
		static Log l;
		return l;
	}
	std::string All()
	{
		std::lock_guard<std::mutex> g(mu);
		std::string s;
		for (auto &l : lines)
			s += l + "\n";
		return s;
	}
	void Clear()
	{
		std::lock_guard<std::mutex> g(mu);
		lines.clear();
	}
};

inline void HostLog(const hpc_host *, int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	Log &l = Log::Get();
	std::lock_guard<std::mutex> g(l.mu);
	l.lines.push_back(std::to_string(level) + " " + buf);
}

// A client region: a real sealed memfd, with a bump allocator over its arena.
class Region {
public:
	explicit Region(size_t arena_bytes, const std::string &name = "fp-test")
	{
		static std::atomic<uint64_t> next_id{1000};
		id_ = next_id++;
		hpc_region_hdr l;
		EXPECT_EQ(hpc_region_layout(arena_bytes, 2, 2, &l), 0);
		rc_ = hpc_region_create(&l, name.c_str(), 0, &r_);
		EXPECT_EQ(rc_, 0);
	}
	~Region()
	{
		if (rc_ == 0)
			hpc_region_unmap(&r_);
	}
	Region(const Region &) = delete;
	Region &operator=(const Region &) = delete;

	// Offset of a fresh, 64-byte aligned block in the arena.
	uint64_t Alloc(size_t bytes)
	{
		uint64_t off = used_;
		used_ = (used_ + bytes + 63) & ~uint64_t{63};
		EXPECT_LE(used_, r_.layout.arena_size) << "test arena too small";
		return off;
	}
	void Reset() { used_ = 0; }
	template <typename T> T *At(uint64_t off) { return reinterpret_cast<T *>(r_.arena + off); }
	uint64_t id() const { return id_; }
	const hpc_region &r() const { return r_; }

private:
	hpc_region r_{};
	int rc_ = -1;
	uint64_t id_;
	uint64_t used_ = 0;
};

// A job as daemon/session.c builds it; the extension asks for the chunk records.
struct Job {
	hpc_job job{};
	std::vector<hpc_chunk_rec> recs;
	Job(Region &reg, uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k,
	    uint64_t a_off, uint64_t b_off, uint64_t out_off, bool has_b, bool has_out,
	    double alpha = 0.0)
	{
		hpc_job &j = job;
		j.op = op;
		j.dtype = dtype;
		j.m = m;
		j.n = n;
		j.k = k;
		unsigned char *arena = reg.r().arena;
		j.a = arena + a_off;
		j.b = has_b ? arena + b_off : nullptr;
		j.out = has_out ? arena + out_off : nullptr;
		j.alpha = alpha;
		j.result = std::nan("");
		j.region_fd = reg.r().fd;
		j.size = sizeof(hpc_job);
		j.region_id = reg.id();
		j.arena_off = reg.r().layout.arena_off;
		j.a_off = a_off;
		j.b_off = has_b ? b_off : 0;
		j.out_off = has_out ? out_off : 0;
		recs.resize(4096);
		job.chunks = recs.data();
		job.chunks_cap = (uint32_t)recs.size();
	}
	hpc_job *get() { return &job; }
	std::vector<hpc_chunk_rec> Records() const
	{
		size_t n = std::min<size_t>(job.chunks_count, recs.size());
		return std::vector<hpc_chunk_rec>(recs.begin(), recs.begin() + n);
	}
};

// One opened forkpool instance; closed on destruction (or Close()).
class Instance {
public:
	using Settings = std::vector<std::pair<std::string, std::string>>;
	explicit Instance(const Settings &settings, const hpc_plugin_ops *ops = nullptr)
	    : ops_(ops ? ops : Ops())
	{
		host_.abi_version = HPC_PLUGIN_ABI_VERSION;
		host_.size = sizeof(host_);
		host_.log = HostLog;
		std::vector<hpc_setting> s;
		uint32_t line = 1;
		for (const auto &kv : settings)
			s.push_back(hpc_setting{kv.first.c_str(), kv.second.c_str(), line++, 0});
		hpc_open_args args{};
		args.abi_version = HPC_PLUGIN_ABI_VERSION;
		args.size = sizeof(args);
		args.instance = "fp";
		args.config_dir = ".";
		args.settings = s.empty() ? nullptr : s.data();
		args.nsettings = (uint32_t)s.size();
		args.host = &host_;
		args.err = err_;
		args.err_len = sizeof(err_);
		args.err_setting = -1;
		rc_ = ops_->open(&args, &state_);
		err_setting_ = args.err_setting;
	}
	Instance(std::initializer_list<std::pair<std::string, std::string>> s)
	    : Instance(Settings(s))
	{
	}
	~Instance() { Close(); }
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

	void Close()
	{
		if (rc_ == 0 && state_) {
			ops_->close(state_);
			state_ = nullptr;
		}
	}
	int rc() const { return rc_; }
	std::string err() const { return err_; }
	int32_t err_setting() const { return err_setting_; }
	void *state() const { return state_; }
	int Run(hpc_job *job) const { return ops_->run(state_, job); }
	void Forget(uint64_t region_id) const { ops_->forget_region(state_, region_id); }
	std::string Describe() const
	{
		char buf[4096] = "";
		int rc = ops_->describe(state_, buf, sizeof(buf));
		return rc == 0 ? std::string(buf) : "describe failed: " + std::to_string(rc);
	}
	// The worker pids that describe() shows (0 for an empty slot).
	std::vector<pid_t> Pids() const { return ParseList(Field("pids")); }
	uint64_t Counter(const std::string &key) const
	{
		return std::strtoull(Field(key).c_str(), nullptr, 10);
	}

private:
	std::string Field(const std::string &key) const
	{
		std::string d = " " + Describe() + " ";
		size_t p = d.find(" " + key + "=");
		if (p == std::string::npos)
			return "";
		p += key.size() + 2;
		return d.substr(p, d.find(' ', p) - p);
	}
	static std::vector<pid_t> ParseList(const std::string &s)
	{
		std::vector<pid_t> v;
		std::stringstream ss(s);
		std::string item;
		while (std::getline(ss, item, ','))
			v.push_back((pid_t)std::atoi(item.c_str()));
		return v;
	}
	const hpc_plugin_ops *ops_;
	hpc_host host_{};
	void *state_ = nullptr;
	int rc_ = -1;
	char err_[1024] = "";
	int32_t err_setting_ = -1;
};

// Whether pid is a live process (a zombie counts as gone: it runs nothing).
inline bool Alive(pid_t pid)
{
	if (pid <= 0)
		return false;
	std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
	std::string stat;
	if (!std::getline(f, stat))
		return false;
	size_t p = stat.rfind(')');
	return p != std::string::npos && p + 2 < stat.size() && stat[p + 2] != 'Z';
}

// Whether pid maps a memfd whose name contains name.
inline bool MapsMemfd(pid_t pid, const std::string &name)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
	std::string line;
	while (std::getline(f, line))
		if (line.find("/memfd:" + name) != std::string::npos)
			return true;
	return false;
}

// |a - b| <= 2 gamma(n) sum|terms| (+ a denormal floor): see tests/plugins_conformance/testutil.h.
inline double Tol(double nterms, double abs_sum, bool f64)
{
	double u = f64 ? 0x1p-53 : 0x1p-24;
	double nu = nterms * u;
	double floor = 4.0 * (f64 ? std::numeric_limits<double>::min()
				  : (double)std::numeric_limits<float>::min());
	return 2.0 * (nu / (1.0 - nu)) * abs_sum + floor;
}

} // namespace fpt

#endif // HPC_TESTS_FORKPOOL_HARNESS_H
