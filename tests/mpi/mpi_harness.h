// tests/mpi/mpi_harness.h - drive the real mpi plugin file the way the daemon
// does: dlopen(RTLD_NOW | RTLD_LOCAL), a real client region (a sealed memfd
// made by //ipc's hpc_region_create), and struct hpc_job built exactly as
// daemon/session.c run_job() builds it (pointers into the arena, plus the
// region's fd, id, arena offset, operand offsets and generations).
//
// Accuracy bound (Higham, Accuracy and Stability of Numerical Algorithms,
// 2nd ed., sec. 3.1): a sum of n terms computed in any order satisfies
//     |computed - exact| <= gamma(n) * sum|terms|,  gamma(n) = n*u / (1 - n*u),
// u = 2^-53 (f64) or 2^-24 (f32). The mpi backend (each rank's partial sum,
// then the reduction over the ranks) and serial both meet it, so they may
// differ by 2 * gamma(n) * sum|terms| (plus a denormal-sized floor) per result:
// per element of matvec (n terms) and matmul (k terms), per scalar of dot and
// sum, and per element of axpy (2 terms).
#ifndef HPC_TESTS_MPI_HARNESS_H
#define HPC_TESTS_MPI_HARNESS_H

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "ipc/region.h"

namespace mpitest {

inline std::string Runfiles()
{
	const char *srcdir = std::getenv("TEST_SRCDIR");
	return srcdir ? std::string(srcdir) + "/hpcd/" : std::string("bazel-bin/");
}

inline std::string PluginPath(const std::string &name)
{
	return Runfiles() + "plugins/libhpc_" + name + ".so";
}

inline std::string TempDir()
{
	const char *t = std::getenv("TEST_TMPDIR");
	std::string base = t ? t : "/tmp";
	std::string tmpl = base + "/mpiXXXXXX";
	std::vector<char> buf(tmpl.begin(), tmpl.end());
	buf.push_back(0);
	if (!mkdtemp(buf.data()))
		return base;
	return buf.data();
}

// The ops table of a plugin, loaded once per test program.
inline const hpc_plugin_ops *Ops(const std::string &name)
{
	static std::vector<std::pair<std::string, const hpc_plugin_ops *>> cache;
	for (auto &e : cache)
		if (e.first == name)
			return e.second;
	void *h = dlopen(PluginPath(name).c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		ADD_FAILURE() << dlerror();
		return nullptr;
	}
	auto entry = reinterpret_cast<hpc_plugin_entry_fn>(dlsym(h, HPC_PLUGIN_ENTRY_NAME));
	if (!entry) {
		ADD_FAILURE() << name << ": no entry point";
		return nullptr;
	}
	cache.emplace_back(name, entry());
	return cache.back().second;
}

// Log lines of every instance, for assertions on what the plugin says.
inline std::vector<std::string> &Logged()
{
	static std::vector<std::string> lines;
	return lines;
}

inline void HostLog(const struct hpc_host *, int, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	Logged().push_back(buf);
	std::fprintf(stderr, "[plugin] %s\n", buf);
}

inline const hpc_host *Host()
{
	static hpc_host host = {HPC_PLUGIN_ABI_VERSION, sizeof(hpc_host), HostLog, nullptr};
	return &host;
}

// One opened instance; closed on destruction.
class Instance {
      public:
	using Settings = std::vector<std::pair<std::string, std::string>>;

	Instance(const std::string &plugin, const Settings &settings) : ops_(Ops(plugin))
	{
		if (!ops_)
			return;
		std::vector<hpc_setting> s;
		uint32_t line = 1;
		for (const auto &kv : settings)
			s.push_back(hpc_setting{kv.first.c_str(), kv.second.c_str(), line++, 0});
		hpc_open_args args{};
		args.abi_version = HPC_PLUGIN_ABI_VERSION;
		args.size = sizeof(args);
		args.instance = "test";
		args.config_dir = "/";
		args.settings = s.empty() ? nullptr : s.data();
		args.nsettings = static_cast<uint32_t>(s.size());
		args.host = Host();
		args.err = err_;
		args.err_len = sizeof(err_);
		args.err_setting = -1;
		rc_ = ops_->open(&args, &state_);
		err_setting_ = args.err_setting;
	}
	~Instance() { Close(); }
	Instance(const Instance &) = delete;
	Instance &operator=(const Instance &) = delete;

	void Close()
	{
		if (rc_ == 0 && ops_)
			ops_->close(state_);
		rc_ = -1;
	}
	int rc() const { return rc_; }
	std::string err() const { return err_; }
	int32_t err_setting() const { return err_setting_; }
	int Run(hpc_job *job) const { return ops_->run(state_, job); }
	void Forget(uint64_t region_id) const { ops_->forget_region(state_, region_id); }
	std::string Describe() const
	{
		char buf[512] = "";
		int rc = ops_->describe(state_, buf, sizeof(buf));
		return rc == 0 ? std::string(buf) : "describe failed: " + std::to_string(rc);
	}

      private:
	const hpc_plugin_ops *ops_;
	void *state_ = nullptr;
	int rc_ = -1;
	char err_[1024] = "";
	int32_t err_setting_ = -1;
};

// A client region as the daemon makes it, with a bump allocator over its arena.
class Region {
      public:
	explicit Region(uint64_t arena_bytes, uint64_t id) : id_(id)
	{
		hpc_region_hdr layout;
		ok_ = hpc_region_layout(arena_bytes, 8, 8, &layout) == 0 &&
		      hpc_region_create(&layout, "mpi-test", 0, &r_) == 0;
	}
	~Region()
	{
		if (ok_)
			hpc_region_unmap(&r_);
	}
	bool ok() const { return ok_; }
	uint64_t id() const { return id_; }
	int fd() const { return r_.fd; }
	unsigned char *arena() const { return r_.arena; }
	uint64_t arena_off() const { return r_.layout.arena_off; }
	// Offset of `bytes` fresh bytes in the arena (64-byte aligned).
	uint64_t Alloc(uint64_t bytes)
	{
		uint64_t off = next_;
		next_ += (bytes + 63) & ~uint64_t(63);
		if (next_ > r_.layout.arena_size)
			ADD_FAILURE() << "arena too small";
		return off;
	}
	void Reset() { next_ = 0; }

	// A job over arena offsets, as daemon/session.c run_job() builds it.
	hpc_job Job(uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k, uint64_t a_off,
		    uint64_t b_off, uint64_t out_off, double alpha, bool has_b, bool has_out,
		    uint64_t a_gen = 0, uint64_t b_gen = 0) const
	{
		hpc_job job{};
		job.op = op;
		job.dtype = dtype;
		job.m = m;
		job.n = n;
		job.k = k;
		job.a = r_.arena + a_off;
		job.b = has_b ? r_.arena + b_off : nullptr;
		job.out = has_out ? r_.arena + out_off : nullptr;
		job.alpha = alpha;
		job.result = std::nan("");
		job.region_fd = r_.fd;
		job.region_id = id_;
		job.arena_off = r_.layout.arena_off;
		job.a_off = a_off;
		job.b_off = has_b ? b_off : 0;
		job.out_off = has_out ? out_off : 0;
		job.a_gen = a_gen;
		job.b_gen = b_gen;
		return job;
	}

      private:
	hpc_region r_{};
	bool ok_ = false;
	uint64_t id_;
	uint64_t next_ = 0;
};

inline double Gamma(double n, double u)
{
	double nu = n * u;
	return nu >= 1 ? std::numeric_limits<double>::infinity() : nu / (1 - nu);
}

// Tolerance of one result against serial: 2 gamma(n) sum|terms| + floor.
inline double Tol(uint32_t dtype, double nterms, double abs_sum)
{
	double u = dtype == HPC_F64 ? 0x1p-53 : 0x1p-24;
	double floor = 4.0 * (dtype == HPC_F64 ? std::numeric_limits<double>::min()
					       : (double)std::numeric_limits<float>::min());
	return 2 * Gamma(nterms < 1 ? 1 : nterms, u) * abs_sum + floor;
}

inline double Get(const void *p, uint32_t dtype, uint64_t i)
{
	return dtype == HPC_F64 ? static_cast<const double *>(p)[i]
				: static_cast<const float *>(p)[i];
}

inline void Put(void *p, uint32_t dtype, uint64_t i, double v)
{
	if (dtype == HPC_F64)
		static_cast<double *>(p)[i] = v;
	else
		static_cast<float *>(p)[i] = (float)v;
}

inline void Fill(void *p, uint32_t dtype, uint64_t count, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::uniform_real_distribution<double> d(-1, 1);
	for (uint64_t i = 0; i < count; i++)
		Put(p, dtype, i, d(rng));
}

// Processes whose command line contains token (zombies have none and are skipped).
inline std::vector<pid_t> ProcessesWith(const std::string &token)
{
	std::vector<pid_t> out;
	DIR *d = opendir("/proc");
	if (!d)
		return out;
	while (struct dirent *e = readdir(d)) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		std::string path = "/proc/" + std::string(e->d_name) + "/cmdline";
		int fd = open(path.c_str(), O_RDONLY);
		if (fd < 0)
			continue;
		char buf[8192];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n] = 0;
		if (std::strstr(buf, token.c_str()))
			out.push_back((pid_t)pid);
	}
	closedir(d);
	return out;
}

// argv[0] of a process.
inline std::string Argv0(pid_t pid)
{
	std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
	int fd = open(path.c_str(), O_RDONLY);
	if (fd < 0)
		return "";
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return "";
	buf[n] = 0;
	return buf;
}

// A private copy of the worker under a unique name: its path is on the command
// line of every rank (and of mpirun), so the test can find them.
inline std::string UniqueWorker(const std::string &tag)
{
	std::string dir = TempDir();
	std::string path = dir + "/hpc_mpi_worker-" + tag + "-" + std::to_string(getpid());
	std::string src = Runfiles() + "plugins/hpc_mpi_worker";
	char real[PATH_MAX];
	if (!realpath(src.c_str(), real))
		ADD_FAILURE() << "no worker at " << src;
	if (symlink(real, path.c_str()) != 0)
		ADD_FAILURE() << "symlink " << path << ": " << strerror(errno);
	return path;
}

// The flags mpirun needs here: root must say so, and 3 ranks on 2 cores oversubscribe.
inline std::string MpirunArgs()
{
	return geteuid() == 0 ? "--allow-run-as-root --oversubscribe" : "--oversubscribe";
}

}  // namespace mpitest

#endif  // HPC_TESTS_MPI_HARNESS_H
