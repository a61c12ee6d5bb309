// tests/opencl/cl_harness.h - load the real plugin .so files the way the
// daemon does (dlopen RTLD_NOW | RTLD_LOCAL), drive instances of them, and
// the error bound the opencl backend is checked to.
//
// A trimmed copy of tests/plugins_conformance/{plugin_harness,testutil}.h,
// whose target is private to its package.
//
// The bound (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
// sec. 3.1): a sum of n terms computed in floating point in any order, with
// any bracketing (the device's tree of partial sums included), satisfies
//     |computed - exact| <= gamma(n) * sum |terms|,  gamma(n) = n u / (1 - n u),
// u = 2^-53 (f64) or 2^-24 (f32). serial meets it too, so opencl and serial
// may differ by 2 gamma(n) sum|terms| per result: per element of matvec (n
// terms) and matmul (k terms), per dot and sum, and per element of axpy (2
// terms, alpha*a_i and out_i). Plus a denormal-sized absolute floor.
#ifndef HPC_TESTS_OPENCL_CL_HARNESS_H
#define HPC_TESTS_OPENCL_CL_HARNESS_H

#include <dlfcn.h>
#include <stdlib.h>

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"

namespace cltest
{

// PoCL caches compiled kernels under $HOME/.cache/pocl, which a test sandbox
// may not let it write: point it at the test's own scratch folder.
inline void UsePrivatePoclCache()
{
	const char *tmp = std::getenv("TEST_TMPDIR");
	std::string dir = std::string(tmp ? tmp : "/tmp") + "/pocl-cache";
	setenv("POCL_CACHE_DIR", dir.c_str(), 0);
}

inline std::string PluginPath(const std::string &name)
{
	const char *srcdir = std::getenv("TEST_SRCDIR");
	std::string dir = srcdir ? std::string(srcdir) + "/hpcd/plugins/" : "bazel-bin/plugins/";
	return dir + "libhpc_" + name + ".so";
}

struct Loaded {
	void *handle = nullptr;
	const hpc_plugin_ops *ops = nullptr;
	std::string error;
};

// Each plugin is loaded once per test program, as the daemon would.
inline const Loaded &Plugin(const std::string &name)
{
	static std::vector<std::pair<std::string, Loaded>> cache;
	for (auto &e : cache)
		if (e.first == name)
			return e.second;
	Loaded l;
	std::string path = PluginPath(name);
	l.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!l.handle) {
		l.error = dlerror();
	} else {
		auto entry =
		    reinterpret_cast<hpc_plugin_entry_fn>(dlsym(l.handle, HPC_PLUGIN_ENTRY_NAME));
		if (entry)
			l.ops = entry();
		else
			l.error = path + ": no " HPC_PLUGIN_ENTRY_NAME;
	}
	cache.emplace_back(name, l);
	return cache.back().second;
}

inline const hpc_plugin_ops *Ops(const std::string &name)
{
	const Loaded &l = Plugin(name);
	EXPECT_NE(l.ops, nullptr) << name << ": " << l.error;
	return l.ops;
}

// Log lines the plugin sends to the host, kept for the test to read.
struct HostLog {
	hpc_host host{};
	std::vector<std::string> lines;
	HostLog()
	{
		host.abi_version = HPC_PLUGIN_ABI_VERSION;
		host.size = sizeof(host);
		host.log = &HostLog::Log;
		host.host_data = this;
	}
	__attribute__((format(printf, 3, 4))) static void Log(const hpc_host *h, int level,
							      const char *fmt, ...)
	{
		char buf[4096];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		static_cast<HostLog *>(h->host_data)->lines.push_back(buf);
	}
	std::string All() const
	{
		std::string s;
		for (const auto &l : lines)
			s += l + "\n";
		return s;
	}
};

// One opened instance of a plugin; closed on destruction.
class Instance
{
      public:
	using Settings = std::vector<std::pair<std::string, std::string>>;

	Instance(const hpc_plugin_ops *ops, const Settings &settings, HostLog *log = nullptr)
	    : ops_(ops)
	{
		std::vector<hpc_setting> s;
		uint32_t line = 1;
		for (const auto &kv : settings)
			s.push_back(hpc_setting{kv.first.c_str(), kv.second.c_str(), line++, 0});
		hpc_open_args args{};
		args.abi_version = HPC_PLUGIN_ABI_VERSION;
		args.size = sizeof(args);
		args.instance = "test";
		args.config_dir = ".";
		args.settings = s.empty() ? nullptr : s.data();
		args.nsettings = static_cast<uint32_t>(s.size());
		args.host = log ? &log->host : nullptr;
		args.err = err_;
		args.err_len = sizeof(err_);
		args.err_setting = -1;
		rc_ = ops_ ? ops_->open(&args, &state_) : -ENOENT;
		err_setting_ = args.err_setting;
	}
	~Instance()
	{
		if (rc_ == 0)
			ops_->close(state_);
	}
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

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
	int Run(hpc_job *job) const
	{
		return ops_->run(state_, job);
	}
	std::string Describe() const
	{
		char buf[256] = "";
		int rc = ops_->describe(state_, buf, sizeof(buf));
		return rc == 0 ? std::string(buf) : "describe failed: " + std::to_string(rc);
	}
	// A counter of describe()'s "name=N" fields, or -1.
	long long Counter(const std::string &name) const
	{
		std::string d = Describe();
		size_t p = d.find(" " + name + "=");
		if (p == std::string::npos)
			return -1;
		return std::atoll(d.c_str() + p + name.size() + 2);
	}

      private:
	const hpc_plugin_ops *ops_;
	void *state_ = nullptr;
	int rc_ = -1;
	char err_[512] = "";
	int32_t err_setting_ = -1;
};

inline hpc_job MakeJob(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k,
		       const void *a, const void *b, void *out, double alpha)
{
	hpc_job job{};
	job.op = op;
	job.dtype = dtype;
	job.m = m;
	job.n = n;
	job.k = k;
	job.a = a;
	job.b = b;
	job.out = out;
	job.alpha = alpha;
	job.result = std::nan("");
	job.region_fd = -1;
	return job;
}

template <typename T> constexpr double UnitRoundoff()
{
	return std::is_same<T, double>::value ? 0x1p-53 : 0x1p-24;
}

inline double Gamma(double n, double u)
{
	double nu = n * u;
	return nu >= 1.0 ? std::numeric_limits<double>::infinity() : nu / (1.0 - nu);
}

template <typename T> double BackendTol(size_t nterms, double abs_sum)
{
	return 2.0 * Gamma(static_cast<double>(nterms), UnitRoundoff<T>()) * abs_sum +
	       4.0 * static_cast<double>(std::numeric_limits<T>::min());
}

template <typename T> void FillRandom(T *p, size_t n, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::uniform_real_distribution<double> dist(-1.0, 1.0);
	for (size_t i = 0; i < n; i++)
		p[i] = static_cast<T>(dist(rng));
}

} // namespace cltest

#endif // HPC_TESTS_OPENCL_CL_HARNESS_H
