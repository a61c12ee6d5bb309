// tests/common/plugin_harness.cc - see plugin_harness.h.
#include "tests/common/plugin_harness.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace hpctest
{

// ---- files ---------------------------------------------------------------------

std::string Runfile(const std::string &rel)
{
	const char *srcdir = std::getenv("TEST_SRCDIR");
	return (srcdir ? std::string(srcdir) + "/hpcd/" : std::string("bazel-bin/")) + rel;
}

std::string PluginPath(const std::string &name)
{
	return Runfile("plugins/libhpc_" + name + ".so");
}

std::string TempDir(const std::string &prefix)
{
	const char *t = std::getenv("TEST_TMPDIR");
	std::string base = t ? t : "/tmp";
	std::string tmpl = base + "/" + prefix + "XXXXXX";
	std::vector<char> buf(tmpl.begin(), tmpl.end());
	buf.push_back(0);
	if (!mkdtemp(buf.data()))
		return base;
	return buf.data();
}

// ---- loading ---------------------------------------------------------------------

void *LoadPluginFile(const std::string &path, const hpc_plugin_ops **ops, std::string *error)
{
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

void *LoadPlugin(const std::string &name, const hpc_plugin_ops **ops, std::string *error)
{
	return LoadPluginFile(PluginPath(name), ops, error);
}

const Loaded &Plugin(const std::string &name)
{
	static std::mutex mu;
	static std::map<std::string, Loaded> cache; // nodes stay put: references stay valid
	std::lock_guard<std::mutex> g(mu);
	auto it = cache.find(name);
	if (it == cache.end()) {
		Loaded l;
		l.handle = LoadPlugin(name, &l.ops, &l.error);
		it = cache.emplace(name, l).first;
	}
	return it->second;
}

const hpc_plugin_ops *Ops(const std::string &name)
{
	const Loaded &l = Plugin(name);
	EXPECT_NE(l.ops, nullptr) << name << ": " << l.error;
	return l.ops;
}

void ExpectOpsTable(const hpc_plugin_ops *ops, const std::string &name,
		    const std::vector<std::string> &settings)
{
	ASSERT_NE(ops, nullptr) << name;
	EXPECT_EQ(ops->abi_version, static_cast<uint32_t>(HPC_PLUGIN_ABI_VERSION));
	EXPECT_EQ(ops->size, sizeof(hpc_plugin_ops));
	EXPECT_EQ(ops->build_sig, HPC_PLUGIN_BUILD_SIG);
	ASSERT_NE(ops->name, nullptr);
	EXPECT_STREQ(ops->name, name.c_str());
	ASSERT_NE(ops->version, nullptr);
	EXPECT_STREQ(ops->version, "0.1.0");
	EXPECT_EQ(ops->ops_f64, static_cast<uint32_t>(HPC_OPS_ALL));
	EXPECT_EQ(ops->ops_f32, static_cast<uint32_t>(HPC_OPS_ALL));
	EXPECT_NE(ops->open, nullptr);
	EXPECT_NE(ops->run, nullptr);
	EXPECT_NE(ops->close, nullptr);
	EXPECT_NE(ops->describe, nullptr);
	// Settings are declared (ABI 2): keys, types and ranges in one table.
	EXPECT_EQ(ops->settings, nullptr) << "the schema is the one list of keys";
	ASSERT_NE(ops->schema, nullptr);
	std::vector<std::string> got;
	for (const hpc_setting_spec *s = ops->schema; s->key; s++) {
		got.push_back(s->key);
		EXPECT_GE(s->type, (uint32_t)HPC_SETTING_UINT) << s->key;
		EXPECT_LE(s->type, (uint32_t)HPC_SETTING_STRING) << s->key;
		EXPECT_NE(s->help, nullptr) << s->key;
		EXPECT_NE(s->def, nullptr) << s->key;
	}
	EXPECT_EQ(got, settings);
}

void ExpectExportsOnlyTheEntryPoint(void *handle, const std::vector<std::string> &internal)
{
	ASSERT_NE(handle, nullptr);
	EXPECT_NE(dlsym(handle, HPC_PLUGIN_ENTRY_NAME), nullptr);
	for (const std::string &sym : internal)
		EXPECT_EQ(dlsym(handle, sym.c_str()), nullptr) << "exports " << sym;
}

// ---- the host table ------------------------------------------------------------------

HostLog::HostLog(bool echo) : echo_(echo)
{
	host_.abi_version = HPC_PLUGIN_ABI_VERSION;
	host_.size = sizeof(host_);
	host_.log = &HostLog::Log;
	host_.host_data = this;
}

void HostLog::Log(const hpc_host *h, int level, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	HostLog *self = static_cast<HostLog *>(h->host_data);
	if (self->echo_)
		std::fprintf(stderr, "[plugin] %s\n", buf);
	std::lock_guard<std::mutex> g(self->mu_);
	self->lines_.push_back(buf);
}

std::vector<std::string> HostLog::Lines() const
{
	std::lock_guard<std::mutex> g(mu_);
	return lines_;
}

std::string HostLog::All() const
{
	std::string s;
	for (const std::string &l : Lines())
		s += l + "\n";
	return s;
}

void HostLog::Clear()
{
	std::lock_guard<std::mutex> g(mu_);
	lines_.clear();
}

// ---- instances -----------------------------------------------------------------------

Instance::Instance(const hpc_plugin_ops *ops, const Settings &settings, HostLog *log,
		   const char *config_dir)
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
	args.config_dir = config_dir;
	args.settings = s.empty() ? nullptr : s.data();
	args.nsettings = static_cast<uint32_t>(s.size());
	args.host = log ? log->host() : nullptr;
	args.err = err_;
	args.err_len = sizeof(err_);
	args.err_setting = -1;
	rc_ = ops_ ? ops_->open(&args, &state_) : -ENOENT;
	err_setting_ = args.err_setting;
}

void Instance::Close()
{
	if (rc_ == 0 && !closed_) {
		ops_->close(state_);
		closed_ = true;
	}
}

std::string Instance::Describe() const
{
	char buf[4096] = "";
	int rc = ops_->describe(state_, buf, sizeof(buf));
	return rc == 0 ? std::string(buf) : "describe failed: " + std::to_string(rc);
}

std::string Instance::DescribeField(const std::string &key) const
{
	std::string d = " " + Describe() + " ";
	size_t p = d.find(" " + key + "=");
	if (p == std::string::npos)
		return "";
	p += key.size() + 2;
	return d.substr(p, d.find(' ', p) - p);
}

long long Instance::Counter(const std::string &key) const
{
	std::string v = DescribeField(key);
	if (v.empty())
		return -1;
	return std::atoll(v.c_str());
}

// ---- jobs ------------------------------------------------------------------------------

hpc_job MakeJob(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k, const void *a,
		const void *b, void *out, double alpha)
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

Region::Region(uint64_t arena_bytes, const std::string &name, uint64_t id)
{
	// Fresh ids stay clear of the small ones tests pick themselves.
	static std::atomic<uint64_t> next_id{1ull << 32};
	id_ = id ? id : next_id++;
	hpc_region_hdr layout;
	int rc = hpci_region_layout(arena_bytes, 8, 8, &layout);
	EXPECT_EQ(rc, 0) << "hpci_region_layout(" << arena_bytes << ")";
	if (rc == 0) {
		rc = hpci_region_create(&layout, name.c_str(), 0, &r_);
		EXPECT_EQ(rc, 0) << "hpci_region_create: " << std::strerror(-rc);
	}
	ok_ = rc == 0;
}

Region::~Region()
{
	if (ok_)
		hpci_region_unmap(&r_);
}

uint64_t Region::Alloc(uint64_t bytes)
{
	uint64_t off = used_;
	used_ += (bytes + 63) & ~uint64_t{63};
	EXPECT_LE(used_, r_.layout.arena_size) << "test arena too small";
	return off;
}

hpc_job Region::Job(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k, uint64_t a_off,
		    uint64_t b_off, uint64_t out_off, double alpha, bool has_b, bool has_out,
		    uint64_t a_gen, uint64_t b_gen) const
{
	hpc_job job =
	    MakeJob(op, dtype, m, n, k, r_.arena + a_off, has_b ? r_.arena + b_off : nullptr,
		    has_out ? r_.arena + out_off : nullptr, alpha);
	job.region_fd = r_.fd;
	job.size = sizeof(hpc_job);
	job.region_id = id_;
	job.arena_off = r_.layout.arena_off;
	job.a_off = a_off;
	job.b_off = has_b ? b_off : 0;
	job.out_off = has_out ? out_off : 0;
	job.a_gen = a_gen;
	job.b_gen = b_gen;
	return job;
}

} // namespace hpctest
