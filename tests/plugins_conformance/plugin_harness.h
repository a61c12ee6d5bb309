// tests/plugins_conformance/plugin_harness.h - load the real plugin .so files
// the way the daemon does (dlopen RTLD_NOW | RTLD_LOCAL, look up the entry
// point) and drive instances of them.
#ifndef HPC_TESTS_PLUGINS_HARNESS_H
#define HPC_TESTS_PLUGINS_HARNESS_H

#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"

namespace hpctest {

// Path of libhpc_NAME.so among the test's runfiles (workspace "hpcd").
inline std::string PluginPath(const std::string &name)
{
	const char *srcdir = std::getenv("TEST_SRCDIR");
	std::string dir = srcdir ? std::string(srcdir) + "/hpcd/plugins/" : "bazel-bin/plugins/";
	return dir + "libhpc_" + name + ".so";
}

// dlopen()s a plugin and fetches its table; on failure *error says why.
inline void *LoadPlugin(const std::string &name, const hpc_plugin_ops **ops, std::string *error)
{
	std::string path = PluginPath(name);
	void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*error = dlerror();
		return nullptr;
	}
	auto entry = reinterpret_cast<hpc_plugin_entry_fn>(dlsym(h, HPC_PLUGIN_ENTRY_NAME));
	if (!entry) {
		*error = path + ": no " HPC_PLUGIN_ENTRY_NAME;
		dlclose(h);
		return nullptr;
	}
	*ops = entry();
	return h;
}

// One opened instance of a plugin; closed on destruction.
class Instance {
public:
	using Settings = std::vector<std::pair<std::string, std::string>>;

	Instance(const hpc_plugin_ops *ops, const Settings &settings) : ops_(ops)
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
		args.host = nullptr;
		args.err = err_;
		args.err_len = sizeof(err_);
		args.err_setting = -1;
		rc_ = ops_->open(&args, &state_);
		err_setting_ = args.err_setting;
	}
	~Instance()
	{
		if (rc_ == 0)
			ops_->close(state_);
	}
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

	int rc() const { return rc_; }
	std::string err() const { return err_; }
	int32_t err_setting() const { return err_setting_; }
	void *state() const { return state_; }
	const hpc_plugin_ops *ops() const { return ops_; }

	int Run(hpc_job *job) const { return ops_->run(state_, job); }

	std::string Describe() const
	{
		char buf[256] = "";
		int rc = ops_->describe(state_, buf, sizeof(buf));
		return rc == 0 ? std::string(buf) : "describe failed: " + std::to_string(rc);
	}

private:
	const hpc_plugin_ops *ops_;
	void *state_ = nullptr;
	int rc_ = -1;
	char err_[256] = "";
	int32_t err_setting_ = -1;
};

// A job over caller-owned operands; result preset to NaN so that a backend
// that forgets to write it fails every comparison.
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

} // namespace hpctest

#endif // HPC_TESTS_PLUGINS_HARNESS_H
