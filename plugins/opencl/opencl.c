/*
 * opencl - runs jobs on an OpenCL device found through the ICD loader: PoCL on
 * the CPU here, a GPU where one is installed.
 *
 * Settings (all optional):
 *   platform = INDEX | NAME   the platform, by index or case-insensitive
 *                             substring of its name
 *   device   = INDEX | NAME   the device, likewise, among the chosen platform's
 *                             devices (or all platforms' devices, in platform
 *                             order, when no platform is set). Default: the
 *                             first GPU, else the first device.
 *   zero_copy = auto|on|off   operand buffers over the client's own memory
 *                             (CL_MEM_USE_HOST_PTR); auto: on CPU devices
 *   kernels  = auto|cpu|gpu   kernel layouts: a contiguous stream per
 *                             work-item (cpu) or neighbouring work-items on
 *                             neighbouring data (gpu); auto: by device type
 *   fp64     = auto|off       off refuses f64 jobs even where the device has
 *                             cl_khr_fp64
 *   cache_mb = 0..1048576     device memory for operands kept across jobs
 *                             (default: half the device's global memory)
 *   build_options = TEXT      extra options for clBuildProgram
 *
 * Programs are built, and every kernel run once, at open: PoCL compiles a
 * kernel for each local size the first time it runs, and that must not land
 * on a client's job. Local sizes are therefore fixed per kernel at open, from
 * the device's and the kernel's limits.
 *
 * Operand buffers. An input with a generation (struct hpc_job a_gen/b_gen,
 * see hpc/wire.h) is cached under (region, offset, bytes, gen, address) and
 * reused by later jobs, least recently used first out; gen 0 is never reused.
 * With zero copy the buffer is the client's own memory: nothing is uploaded
 * at all, and an output is synchronised by a map/unmap. Without it, inputs
 * are written to device memory once per generation and outputs read back.
 *
 * run() may be called from several daemon threads: one mutex serialises the
 * jobs of an instance, which share one in-order queue, the kernels' argument
 * slots and the cache. The device runs one job at a time anyway.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpc/plugin.h"
#include "plugins/base/lru.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/settings.h"
#include "plugins/opencl/clutil.h"
#include "plugins/opencl/source.h"

/* cl_khr_icd: the loader found no platform (cl_ext.h, not needed otherwise). */
#define CL_PLATFORM_NOT_FOUND_KHR_ (-1001)
#define CL_CACHE_ENTRIES HPCB_LRU_MAX
#define CL_NAME_MAX 128
#define CL_PAGE 4096u

enum cl_kid { K_DOT, K_SUM, K_FINAL, K_MATVEC_ROWS, K_MATVEC_GROUP, K_MATMUL, K_AXPY, K__COUNT };

static const char *const cl_kernel_names[K__COUNT] = {
    "dot_partial", "sum_partial", "reduce_final", "matvec_rows", "matvec_group", "matmul", "axpy",
};

/* The kernels of one element type. */
struct cl_prog {
	cl_program prog;
	cl_kernel k[K__COUNT];
};

/* What a cached input buffer holds: the operand it was made for. */
struct cl_key {
	uint64_t region_id, off, bytes, gen;
	const void *host;
};

/* One cached input buffer, by slot of inst->lru; mem == NULL in a free slot. */
struct cl_cached {
	cl_mem mem;
	struct cl_key key;
	uint64_t elem_off; /* where the operand starts in the buffer, in elements */
};

/* An operand of one job; holds its own reference to mem. */
struct cl_operand {
	cl_mem mem;
	cl_ulong off; /* elements */
};

struct cl_inst {
	const struct hpc_host *host;
	char instance[64];

	cl_device_id dev;
	cl_context ctx;
	cl_command_queue q;
	char dev_name[CL_NAME_MAX], plat_name[CL_NAME_MAX];
	unsigned plat_idx, dev_idx; /* dev_idx within its platform */
	bool is_cpu, is_gpu;
	bool fp64;      /* f64 jobs run (device has cl_khr_fp64 and fp64 != off) */
	bool fp64_hw;   /* the device has cl_khr_fp64 */
	bool zero_copy; /* CL_MEM_USE_HOST_PTR for operands */
	bool cpu_kernels;
	size_t align;       /* base address alignment for zero-copy buffers */
	cl_ulong max_alloc; /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
	cl_uint cus;

	struct cl_prog prog[HPC_DTYPE__COUNT]; /* by enum hpc_dtype; f64 only with fp64 */
	size_t l_flat;  /* local size of matvec_rows, matmul (dim 0) and axpy */
	size_t l_red;   /* ... of dot/sum_partial and matvec_group: a power of two */
	size_t l_final; /* ... of reduce_final: a power of two */
	size_t max_groups;
	cl_mem part; /* (max_groups + 1) doubles: partial sums, then the total */

	pthread_mutex_t mu; /* everything below, and every use of q and the kernels */
	struct cl_cached cache[CL_CACHE_ENTRIES];
	struct hpcb_lru lru; /* which cache slots are used, and their device bytes */
	uint64_t created, reused, uploads, upload_bytes, evicted, forgotten;
	bool fp64_refusal_logged;
};

/* ---- messages --------------------------------------------------------------------- */

/* Log through the host table, as the instance. */
#define inst_log(inst, level, ...) hpcb_log((inst)->host, (level), __VA_ARGS__)

/* Log a failed OpenCL call of a job by the error's name; returns the job's errno. */
static int job_fail(const struct cl_inst *inst, const char *call, const char *what, cl_int err)
{
	inst_log(inst, HPC_LOG_ERROR, "%s(%s) failed: %s", call, what, hpc_cl_errname(err));
	return hpc_cl_errno(err);
}

/* ---- device discovery ------------------------------------------------------------ */

struct cl_catalog {
	cl_uint nplat;
	cl_platform_id *plat;
	char (*plat_name)[CL_NAME_MAX];
	unsigned ndev; /* every platform's devices, in platform order */
	cl_device_id *dev;
	unsigned *dev_plat;  /* platform index of each device */
	unsigned *dev_local; /* index within its platform */
	char (*dev_name)[CL_NAME_MAX];
	enum hpc_cl_kind *kind;
};

static void catalog_free(struct cl_catalog *c)
{
	free(c->plat);
	free(c->plat_name);
	free(c->dev);
	free(c->dev_plat);
	free(c->dev_local);
	free(c->dev_name);
	free(c->kind);
	memset(c, 0, sizeof(*c));
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, CL_NAME_MAX, "%s", src);
	/* Trim the trailing blanks some drivers pad names with. */
	size_t n = strlen(dst);
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\n'))
		dst[--n] = '\0';
}

static int catalog_load(struct cl_catalog *c, struct hpc_open_args *args)
{
	memset(c, 0, sizeof(*c));
	cl_int err = clGetPlatformIDs(0, NULL, &c->nplat);
	if (err == CL_PLATFORM_NOT_FOUND_KHR_ || (err == CL_SUCCESS && c->nplat == 0)) {
		hpcb_err(args, -1,
			 "the OpenCL ICD loader found no platform (is a driver such as "
			 "pocl-opencl-icd installed, with its file in /etc/OpenCL/vendors?).");
		return -ENODEV;
	}
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clGetPlatformIDs failed: %s.", hpc_cl_errname(err));
		return -EIO;
	}
	c->plat = calloc(c->nplat, sizeof(*c->plat));
	c->plat_name = calloc(c->nplat, sizeof(*c->plat_name));
	if (!c->plat || !c->plat_name)
		goto oom;
	err = clGetPlatformIDs(c->nplat, c->plat, NULL);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clGetPlatformIDs failed: %s.", hpc_cl_errname(err));
		return -EIO;
	}
	cl_uint total = 0;
	for (cl_uint p = 0; p < c->nplat; p++) {
		char name[CL_NAME_MAX] = "";
		err = clGetPlatformInfo(c->plat[p], CL_PLATFORM_NAME, sizeof(name) - 1, name, NULL);
		if (err != CL_SUCCESS && err != CL_INVALID_VALUE) { /* too long: keep what fits */
			hpcb_err(args, -1, "clGetPlatformInfo(CL_PLATFORM_NAME) failed: %s.",
				 hpc_cl_errname(err));
			return -EIO;
		}
		copy_name(c->plat_name[p], name);
		cl_uint nd = 0;
		err = clGetDeviceIDs(c->plat[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
		if (err == CL_DEVICE_NOT_FOUND)
			nd = 0;
		else if (err != CL_SUCCESS) {
			hpcb_err(args, -1, "clGetDeviceIDs on platform %u failed: %s.", p,
				 hpc_cl_errname(err));
			return -EIO;
		}
		total += nd;
	}
	c->dev = calloc(total ? total : 1, sizeof(*c->dev));
	c->dev_plat = calloc(total ? total : 1, sizeof(*c->dev_plat));
	c->dev_local = calloc(total ? total : 1, sizeof(*c->dev_local));
	c->dev_name = calloc(total ? total : 1, sizeof(*c->dev_name));
	c->kind = calloc(total ? total : 1, sizeof(*c->kind));
	if (!c->dev || !c->dev_plat || !c->dev_local || !c->dev_name || !c->kind)
		goto oom;
	for (cl_uint p = 0; p < c->nplat; p++) {
		cl_uint nd = 0;
		err = clGetDeviceIDs(c->plat[p], CL_DEVICE_TYPE_ALL, total - c->ndev,
				     c->dev + c->ndev, &nd);
		if (err == CL_DEVICE_NOT_FOUND)
			continue;
		if (err != CL_SUCCESS) {
			hpcb_err(args, -1, "clGetDeviceIDs on platform %u failed: %s.", p,
				 hpc_cl_errname(err));
			return -EIO;
		}
		if (nd > total - c->ndev)
			nd = total - c->ndev; /* a device appeared between the two calls */
		for (cl_uint d = 0; d < nd; d++) {
			unsigned i = c->ndev + d;
			char name[CL_NAME_MAX] = "";
			cl_device_type type = 0;
			err = clGetDeviceInfo(c->dev[i], CL_DEVICE_NAME, sizeof(name) - 1, name,
					      NULL);
			if (err == CL_SUCCESS || err == CL_INVALID_VALUE)
				err = clGetDeviceInfo(c->dev[i], CL_DEVICE_TYPE, sizeof(type),
						      &type, NULL);
			if (err != CL_SUCCESS) {
				hpcb_err(args, -1, "clGetDeviceInfo failed: %s.",
					 hpc_cl_errname(err));
				return -EIO;
			}
			copy_name(c->dev_name[i], name);
			c->dev_plat[i] = p;
			c->dev_local[i] = d;
			c->kind[i] =
			    (type & CL_DEVICE_TYPE_GPU) ? HPC_CL_KIND_GPU : HPC_CL_KIND_OTHER;
		}
		c->ndev += nd;
	}
	return 0;
oom:
	hpcb_err(args, -1, "out of memory.");
	return -ENOMEM;
}

/* "0: NAME, 1: NAME" of the candidates, for messages; truncated to fit. */
static void list_names(char *buf, size_t len, const char *const *names, unsigned n)
{
	size_t pos = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < n && pos < len; i++) {
		int w = snprintf(buf + pos, len - pos, "%s%u: %s", i ? ", " : "", i, names[i]);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
}

struct cl_choice {
	const char *platform, *device;
	int32_t platform_at, device_at; /* setting indexes, -1 when unset */
};

/* Pick the device the settings name (see the top of the file). */
static int choose_device(struct cl_inst *inst, const struct cl_catalog *c,
			 const struct cl_choice *ch, struct hpc_open_args *args)
{
	char list[300];
	const char **names = calloc(c->nplat + c->ndev + 1, sizeof(*names));
	unsigned *cand = calloc(c->ndev + 1, sizeof(*cand));
	int rc = 0;
	if (!names || !cand) {
		hpcb_err(args, -1, "out of memory.");
		rc = -ENOMEM;
		goto out;
	}
	unsigned ncand = 0;
	bool one_platform = ch->platform != NULL;
	unsigned plat = 0;
	if (one_platform) {
		for (unsigned p = 0; p < c->nplat; p++)
			names[p] = c->plat_name[p];
		rc = hpc_cl_match(ch->platform, names, c->nplat, &plat);
		if (rc) {
			list_names(list, sizeof(list), names, c->nplat);
			hpcb_err(
			    args, ch->platform_at,
			    "platform \"%s\" %s (the OpenCL platforms here are %s).", ch->platform,
			    rc == -ERANGE ? "is not a platform index" : "matches no platform name",
			    list);
			rc = -EINVAL;
			goto out;
		}
	}
	for (unsigned i = 0; i < c->ndev; i++)
		if (!one_platform || c->dev_plat[i] == plat)
			cand[ncand++] = i;
	if (ncand == 0) {
		if (one_platform)
			hpcb_err(args, ch->platform_at, "OpenCL platform %u (%s) has no devices.",
				 plat, c->plat_name[plat]);
		else
			hpcb_err(args, -1, "no OpenCL device found on any platform.");
		rc = -ENODEV;
		goto out;
	}
	enum hpc_cl_kind kinds[64];
	unsigned pick = 0;
	for (unsigned i = 0; i < ncand; i++)
		names[i] = c->dev_name[cand[i]];
	if (ch->device) {
		rc = hpc_cl_match(ch->device, names, ncand, &pick);
		if (rc) {
			list_names(list, sizeof(list), names, ncand);
			hpcb_err(args, ch->device_at,
				 "device \"%s\" %s (the OpenCL devices%s here are %s).", ch->device,
				 rc == -ERANGE ? "is not a device index" : "matches no device name",
				 one_platform ? " of that platform" : "", list);
			rc = -EINVAL;
			goto out;
		}
	} else {
		unsigned nk = ncand < 64 ? ncand : 64;
		for (unsigned i = 0; i < nk; i++)
			kinds[i] = c->kind[cand[i]];
		pick = hpc_cl_default_device(kinds, nk);
	}
	unsigned d = cand[pick];
	inst->dev = c->dev[d];
	inst->plat_idx = c->dev_plat[d];
	inst->dev_idx = c->dev_local[d];
	snprintf(inst->dev_name, sizeof(inst->dev_name), "%s", c->dev_name[d]);
	snprintf(inst->plat_name, sizeof(inst->plat_name), "%s", c->plat_name[c->dev_plat[d]]);
out:
	free(names);
	free(cand);
	return rc;
}

/* ---- settings ------------------------------------------------------------------ */

enum tri { TRI_AUTO, TRI_ON, TRI_OFF };

struct cl_opts {
	struct cl_choice choice;
	enum tri zero_copy;
	enum tri cpu_kernels; /* ON: cpu, OFF: gpu */
	bool fp64_off;
	bool cache_set;
	unsigned long cache_mb;
	const char *build_options;
	int32_t build_options_at;
};

/* The section's settings as the schema stores them. */
struct cl_conf {
	const char *platform, *device, *build_options;
	unsigned zero_copy, kernels, fp64; /* indexes into their choices */
	uint64_t cache_mb;
};

#define CL_CONF(m) offsetof(struct cl_conf, m)

enum { CL_S_PLATFORM, CL_S_DEVICE, CL_S_ZERO_COPY, CL_S_KERNELS, CL_S_FP64, CL_S_CACHE_MB };

static const struct hpc_setting_spec cl_schema[] = {
    [CL_S_PLATFORM] = {.key = "platform",
		       .type = HPC_SETTING_STRING,
		       .def = "any",
		       .help = "platform by index or case-insensitive part of its name",
		       .offset = CL_CONF(platform)},
    [CL_S_DEVICE] = {.key = "device",
		     .type = HPC_SETTING_STRING,
		     .def = "the first GPU, else the first device",
		     .help = "device by index or part of its name (within platform if given)",
		     .offset = CL_CONF(device)},
    /* Choice order matches enum tri: auto, on, off. */
    [CL_S_ZERO_COPY] = {.key = "zero_copy",
			.type = HPC_SETTING_ENUM,
			.choices = "auto|on|off",
			.def = "auto",
			.help =
			    "compute on the client's memory (CL_MEM_USE_HOST_PTR); auto: on for "
			    "CPU devices",
			.offset = CL_CONF(zero_copy)},
    [CL_S_KERNELS] = {.key = "kernels",
		      .type = HPC_SETTING_ENUM,
		      .choices = "auto|cpu|gpu",
		      .def = "auto",
		      .help = "kernel layout; auto picks by device type",
		      .offset = CL_CONF(kernels)},
    [CL_S_FP64] = {.key = "fp64",
		   .type = HPC_SETTING_ENUM,
		   .choices = "auto|off",
		   .def = "auto",
		   .help = "off refuses f64 jobs (always refused without cl_khr_fp64)",
		   .offset = CL_CONF(fp64)},
    [CL_S_CACHE_MB] = {.key = "cache_mb",
		       .type = HPC_SETTING_UINT,
		       .min = 0,
		       .max = 1u << 20,
		       .unit = "MiB",
		       .def = "half the device's memory",
		       .help = "device memory for operands kept across jobs (0: no cache)",
		       .offset = CL_CONF(cache_mb)},
    {.key = "build_options",
     .type = HPC_SETTING_STRING,
     .def = "none",
     .help = "extra clBuildProgram options",
     .offset = CL_CONF(build_options)},
    {.key = NULL},
};

static int parse_settings(struct hpc_open_args *args, struct cl_opts *o)
{
	memset(o, 0, sizeof(*o));
	struct cl_conf c = {0};
	uint64_t given;
	int rc = hpcb_settings_apply(cl_schema, args, &c, &given);
	if (rc < 0)
		return rc;
	o->choice.platform = c.platform;
	o->choice.device = c.device;
	o->choice.platform_at = hpcb_settings_index(args, "platform");
	o->choice.device_at = hpcb_settings_index(args, "device");
	const char *empty = c.platform && !*c.platform ? "platform"
			    : c.device && !*c.device   ? "device"
						       : NULL;
	if (empty) {
		hpcb_err(args, hpcb_settings_index(args, empty),
			 "%s must be an index or part of a name, not empty.", empty);
		return -EINVAL;
	}
	o->zero_copy = (enum tri)c.zero_copy;
	o->cpu_kernels = (enum tri)c.kernels;
	o->fp64_off = c.fp64 == 1;
	o->cache_set = given & (1u << CL_S_CACHE_MB);
	o->cache_mb = (unsigned long)c.cache_mb;
	o->build_options = c.build_options;
	o->build_options_at = hpcb_settings_index(args, "build_options");
	return 0;
}

/* ---- device properties ----------------------------------------------------------- */

static int dev_info(struct hpc_open_args *args, cl_device_id dev, cl_device_info what,
		    const char *name, void *out, size_t size)
{
	cl_int err = clGetDeviceInfo(dev, what, size, out, NULL);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clGetDeviceInfo(%s) failed: %s.", name, hpc_cl_errname(err));
		return -EIO;
	}
	return 0;
}

#define DEV_INFO(args, dev, what, out) dev_info(args, dev, what, #what, out, sizeof(*(out)))

static bool has_extension(const char *list, const char *ext)
{
	size_t n = strlen(ext);
	for (const char *p = list; (p = strstr(p, ext)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static int query_device(struct cl_inst *inst, const struct cl_opts *o, struct hpc_open_args *args,
			cl_ulong *global_mem, cl_ulong *local_mem)
{
	cl_device_type type;
	cl_bool avail;
	cl_uint align_bits;
	int rc;
	if ((rc = DEV_INFO(args, inst->dev, CL_DEVICE_TYPE, &type)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_AVAILABLE, &avail)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_MAX_COMPUTE_UNITS, &inst->cus)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &inst->max_alloc)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_GLOBAL_MEM_SIZE, global_mem)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_LOCAL_MEM_SIZE, local_mem)) ||
	    (rc = DEV_INFO(args, inst->dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, &align_bits)))
		return rc;
	if (!avail) {
		hpcb_err(args, o->choice.device_at, "OpenCL device \"%s\" is not available.",
			 inst->dev_name);
		return -ENODEV;
	}
	size_t ext_len = 0;
	cl_int err = clGetDeviceInfo(inst->dev, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len);
	char *ext = err == CL_SUCCESS ? calloc(1, ext_len + 1) : NULL;
	if (err == CL_SUCCESS && !ext) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	if (err == CL_SUCCESS)
		err = clGetDeviceInfo(inst->dev, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL);
	if (err != CL_SUCCESS) {
		free(ext);
		hpcb_err(args, -1, "clGetDeviceInfo(CL_DEVICE_EXTENSIONS) failed: %s.",
			 hpc_cl_errname(err));
		return -EIO;
	}
	inst->fp64_hw = has_extension(ext, "cl_khr_fp64");
	free(ext);
	inst->fp64 = inst->fp64_hw && !o->fp64_off;

	inst->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
	inst->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
	if (inst->cus == 0)
		inst->cus = 1;
	inst->align = align_bits / 8;
	bool align_ok =
	    inst->align >= 8 && inst->align <= CL_PAGE && (inst->align & (inst->align - 1)) == 0;
	if (!align_ok)
		inst->align = CL_PAGE;
	inst->zero_copy = o->zero_copy == TRI_ON || (o->zero_copy == TRI_AUTO && inst->is_cpu);
	if (inst->zero_copy && !align_ok) {
		hpcb_err(args, -1,
			 "zero_copy needs a buffer alignment of at most a page, but device "
			 "\"%s\" asks for %u bits.",
			 inst->dev_name, align_bits);
		return -EINVAL;
	}
	inst->cpu_kernels =
	    o->cpu_kernels == TRI_ON || (o->cpu_kernels == TRI_AUTO && inst->is_cpu);
	return 0;
}

/* ---- programs -------------------------------------------------------------------- */

/* The first lines of a build log that name an error, else its start, on one line. */
static void log_excerpt(char *dst, size_t len, const char *log)
{
	const char *p = strstr(log, "error");
	if (!p)
		p = log;
	else
		while (p > log && p[-1] != '\n')
			p--;
	snprintf(dst, len, "%s", p);
	for (char *s = dst; *s; s++)
		if (*s == '\n' || *s == '\t' || *s == '\r')
			*s = ' ';
}

static int build_program(struct cl_inst *inst, uint32_t dtype, const struct cl_opts *o,
			 struct hpc_open_args *args)
{
	struct cl_prog *pg = &inst->prog[dtype];
	const char *src = hpc_cl_source;
	cl_int err;
	pg->prog = clCreateProgramWithSource(inst->ctx, 1, &src, NULL, &err);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clCreateProgramWithSource failed: %s.", hpc_cl_errname(err));
		return -EIO;
	}
	char opts[1024];
	int w =
	    snprintf(opts, sizeof(opts), "-DREAL=%s%s -DHPC_CPU=%d %s",
		     dtype == HPC_F64 ? "double" : "float", dtype == HPC_F64 ? " -DHPC_FP64=1" : "",
		     inst->cpu_kernels ? 1 : 0, o->build_options ? o->build_options : "");
	if (w < 0 || (size_t)w >= sizeof(opts)) {
		hpcb_err(args, o->build_options_at, "build_options is too long.");
		return -EINVAL;
	}
	err = clBuildProgram(pg->prog, 1, &inst->dev, opts, NULL, NULL);
	if (err != CL_SUCCESS) {
		size_t n = 0;
		char *log = NULL;
		if (clGetProgramBuildInfo(pg->prog, inst->dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) ==
			CL_SUCCESS &&
		    (log = calloc(1, n + 1)) != NULL &&
		    clGetProgramBuildInfo(pg->prog, inst->dev, CL_PROGRAM_BUILD_LOG, n, log,
					  NULL) != CL_SUCCESS)
			log[0] = '\0';
		char excerpt[320];
		log_excerpt(excerpt, sizeof(excerpt), log ? log : "");
		/* Whole: with vlog the daemon formats it (its own line limit applies). */
		if (log && *log)
			inst_log(inst, HPC_LOG_ERROR, "build log of the %s kernels:\n%s",
				 hpc_dtype_name(dtype), log);
		hpcb_err(args, o->build_options_at,
			 "building the %s kernels for \"%s\" failed: %s: %s", hpc_dtype_name(dtype),
			 inst->dev_name, hpc_cl_errname(err),
			 excerpt[0] ? excerpt : "(the build log is empty).");
		free(log);
		return -EINVAL;
	}
	for (int k = 0; k < K__COUNT; k++) {
		pg->k[k] = clCreateKernel(pg->prog, cl_kernel_names[k], &err);
		if (err != CL_SUCCESS) {
			hpcb_err(args, -1, "clCreateKernel(%s) failed: %s.", cl_kernel_names[k],
				 hpc_cl_errname(err));
			return -EIO;
		}
	}
	return 0;
}

static int kernel_limits(struct cl_inst *inst, cl_kernel k, const char *name, size_t *wg,
			 size_t *pref, struct hpc_open_args *args)
{
	cl_int err = clGetKernelWorkGroupInfo(k, inst->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof(*wg),
					      wg, NULL);
	if (err == CL_SUCCESS)
		err = clGetKernelWorkGroupInfo(k, inst->dev,
					       CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
					       sizeof(*pref), pref, NULL);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clGetKernelWorkGroupInfo(%s) failed: %s.", name,
			 hpc_cl_errname(err));
		return -EIO;
	}
	if (*wg == 0)
		*wg = 1;
	if (*pref == 0)
		*pref = 1;
	return 0;
}

/*
 * Local sizes, from the device's and the kernels' limits: on a CPU a
 * work-group is one task of a core, so its size is the kernel's preferred
 * multiple (the width the compiler vectorises across work-items); on a GPU a
 * few of those, so that each compute unit holds several warps.
 */
static int plan_geometry(struct cl_inst *inst, cl_ulong local_mem, struct hpc_open_args *args)
{
	size_t flat = SIZE_MAX, red = SIZE_MAX, fin = SIZE_MAX, pref_all = 1;
	for (uint32_t t = 0; t < HPC_DTYPE__COUNT; t++) {
		if (!inst->prog[t].prog)
			continue;
		for (int k = 0; k < K__COUNT; k++) {
			size_t wg, pref;
			int rc = kernel_limits(inst, inst->prog[t].k[k], cl_kernel_names[k], &wg,
					       &pref, args);
			if (rc)
				return rc;
			if (pref > pref_all)
				pref_all = pref;
			size_t *slot = k == K_FINAL                                        ? &fin
				       : (k == K_DOT || k == K_SUM || k == K_MATVEC_GROUP) ? &red
											   : &flat;
			if (wg < *slot)
				*slot = wg;
		}
	}
	size_t want = inst->cpu_kernels ? pref_all : 4 * pref_all;
	size_t by_local = (size_t)(local_mem / sizeof(double));
	if (by_local == 0)
		by_local = 1;
	inst->l_flat = hpc_cl_pow2_floor(want < flat ? want : flat);
	size_t r = want < red ? want : red;
	inst->l_red = hpc_cl_pow2_floor(r < by_local ? r : by_local);
	/* A few groups per compute unit keep every unit busy to the end. */
	inst->max_groups = (size_t)inst->cus * (inst->cpu_kernels ? 4 : 8);
	size_t f = inst->max_groups < fin ? inst->max_groups : fin;
	inst->l_final = hpc_cl_pow2_floor(f < by_local ? f : by_local);
	return 0;
}

/* ---- launching kernels ------------------------------------------------------------ */

struct karg {
	size_t size;
	const void *value; /* NULL: local memory of size bytes */
};

static int launch(struct cl_inst *inst, uint32_t dtype, enum cl_kid kid, const struct karg *a,
		  unsigned nargs, cl_uint dims, const size_t *global, const size_t *local)
{
	cl_kernel k = inst->prog[dtype].k[kid];
	for (unsigned i = 0; i < nargs; i++) {
		cl_int err = clSetKernelArg(k, i, a[i].size, a[i].value);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clSetKernelArg", cl_kernel_names[kid], err);
	}
	cl_int err = clEnqueueNDRangeKernel(inst->q, k, dims, NULL, global, local, 0, NULL, NULL);
	if (err != CL_SUCCESS)
		return job_fail(inst, "clEnqueueNDRangeKernel", cl_kernel_names[kid], err);
	return 0;
}

#define ARGS(...)                                                                                  \
	(const struct karg[]){__VA_ARGS__},                                                        \
	    sizeof((const struct karg[]){__VA_ARGS__}) / sizeof(struct karg)
#define MEM(m)                                                                                     \
	{                                                                                          \
		sizeof(cl_mem), &(m)                                                               \
	}
#define ULONG(v)                                                                                   \
	{                                                                                          \
		sizeof(cl_ulong), &(v)                                                             \
	}
#define LOCAL(bytes)                                                                               \
	{                                                                                          \
		(bytes), NULL                                                                      \
	}

/* ---- operand buffers --------------------------------------------------------------- */

/* The cache lets slot go: release its buffer (a job holding it keeps its own reference). */
static void cache_evict(void *ctx, unsigned slot)
{
	struct cl_inst *inst = ctx;
	clReleaseMemObject(inst->cache[slot].mem);
	memset(&inst->cache[slot], 0, sizeof(inst->cache[slot]));
	inst->evicted++;
}

static bool cache_is(void *ctx, unsigned slot, const void *key)
{
	const struct cl_key *a = &((struct cl_inst *)ctx)->cache[slot].key, *b = key;
	return a->region_id == b->region_id && a->off == b->off && a->bytes == b->bytes &&
	       a->gen == b->gen && a->host == b->host;
}

static bool cache_in_region(void *ctx, unsigned slot, const void *region_id)
{
	return ((struct cl_inst *)ctx)->cache[slot].key.region_id == *(const uint64_t *)region_id;
}

/*
 * A buffer holding input [p, p + bytes) of a job, reused from the cache when
 * the client's generation says it is unchanged. On success op->mem holds a
 * reference the caller releases.
 */
static int get_input(struct cl_inst *inst, const void *p, size_t bytes, size_t es,
		     uint64_t region_id, uint64_t off, uint64_t gen, struct cl_operand *op)
{
	const bool cacheable = gen != 0 && inst->lru.budget > 0;
	const struct cl_key key = {region_id, off, bytes, gen, p};
	int slot = cacheable ? hpcb_lru_find(&inst->lru, cache_is, &key) : -ENOENT;
	if (slot >= 0) {
		struct cl_cached *e = &inst->cache[slot];
		clRetainMemObject(e->mem);
		op->mem = e->mem;
		op->off = e->elem_off;
		inst->reused++;
		return 0;
	}
	cl_int err;
	size_t span = bytes, dev_bytes = 0;
	uint64_t elem_off = 0;
	if (inst->zero_copy) {
		const void *base;
		hpc_cl_host_span(p, bytes, inst->align, es, &base, &span, &elem_off);
		if (span > inst->max_alloc)
			goto too_big;
		op->mem = clCreateBuffer(inst->ctx, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, span,
					 (void *)base, &err);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clCreateBuffer", "input, host memory", err);
	} else {
		if (bytes > inst->max_alloc)
			goto too_big;
		op->mem = clCreateBuffer(inst->ctx, CL_MEM_READ_ONLY, bytes, NULL, &err);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clCreateBuffer", "input", err);
		err = clEnqueueWriteBuffer(inst->q, op->mem, CL_FALSE, 0, bytes, p, 0, NULL, NULL);
		if (err != CL_SUCCESS) {
			clReleaseMemObject(op->mem);
			op->mem = NULL;
			return job_fail(inst, "clEnqueueWriteBuffer", "input", err);
		}
		inst->uploads++;
		inst->upload_bytes += bytes;
		dev_bytes = bytes;
	}
	op->off = elem_off;
	inst->created++;
	/* Evicts least recently used buffers until dev_bytes fit; none for more than the
	 * whole budget. */
	slot = cacheable ? hpcb_lru_insert(&inst->lru, dev_bytes, 0) : -ENOENT;
	if (slot >= 0) {
		clRetainMemObject(op->mem);
		inst->cache[slot] =
		    (struct cl_cached){.mem = op->mem, .key = key, .elem_off = elem_off};
	}
	return 0;
too_big:
	inst_log(inst, HPC_LOG_ERROR,
		 "an operand of %zu bytes is larger than the largest buffer of \"%s\" (%llu bytes)",
		 bytes, inst->dev_name, (unsigned long long)inst->max_alloc);
	return -EFBIG;
}

/* A buffer for output [p, p + bytes); with `load`, it starts with p's contents (axpy). */
static int get_output(struct cl_inst *inst, void *p, size_t bytes, size_t es, bool load,
		      struct cl_operand *op)
{
	cl_int err;
	if (inst->zero_copy) {
		const void *base;
		size_t span;
		uint64_t elem_off;
		hpc_cl_host_span(p, bytes, inst->align, es, &base, &span, &elem_off);
		if (span > inst->max_alloc)
			goto too_big;
		op->mem = clCreateBuffer(
		    inst->ctx, (load ? CL_MEM_READ_WRITE : CL_MEM_WRITE_ONLY) | CL_MEM_USE_HOST_PTR,
		    span, (void *)base, &err);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clCreateBuffer", "output, host memory", err);
		op->off = elem_off;
		return 0;
	}
	if (bytes > inst->max_alloc)
		goto too_big;
	op->mem = clCreateBuffer(inst->ctx, load ? CL_MEM_READ_WRITE : CL_MEM_WRITE_ONLY, bytes,
				 NULL, &err);
	if (err != CL_SUCCESS)
		return job_fail(inst, "clCreateBuffer", "output", err);
	op->off = 0;
	if (load) {
		err = clEnqueueWriteBuffer(inst->q, op->mem, CL_FALSE, 0, bytes, p, 0, NULL, NULL);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clEnqueueWriteBuffer", "output", err);
		inst->uploads++;
		inst->upload_bytes += bytes;
	}
	return 0;
too_big:
	inst_log(inst, HPC_LOG_ERROR,
		 "an output of %zu bytes is larger than the largest buffer of \"%s\" (%llu bytes)",
		 bytes, inst->dev_name, (unsigned long long)inst->max_alloc);
	return -EFBIG;
}

/* Make the kernel's writes to output op visible in p, and wait for the queue. */
static int finish_output(struct cl_inst *inst, const struct cl_operand *op, void *p, size_t bytes,
			 size_t es)
{
	cl_int err;
	if (inst->zero_copy) {
		/* The map is the synchronisation point USE_HOST_PTR asks for; it copies nothing
		 * here. */
		void *m = clEnqueueMapBuffer(inst->q, op->mem, CL_TRUE, CL_MAP_READ, op->off * es,
					     bytes, 0, NULL, NULL, &err);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clEnqueueMapBuffer", "output", err);
		err = clEnqueueUnmapMemObject(inst->q, op->mem, m, 0, NULL, NULL);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clEnqueueUnmapMemObject", "output", err);
	} else {
		err = clEnqueueReadBuffer(inst->q, op->mem, CL_TRUE, 0, bytes, p, 0, NULL, NULL);
		if (err != CL_SUCCESS)
			return job_fail(inst, "clEnqueueReadBuffer", "output", err);
	}
	err = clFinish(inst->q);
	if (err != CL_SUCCESS)
		return job_fail(inst, "clFinish", "output", err);
	return 0;
}

/* ---- jobs ------------------------------------------------------------------------ */

/* dot (b != NULL) or sum of n elements; the result is left in *result. */
static int run_reduction(struct cl_inst *inst, struct hpc_job *job, size_t es)
{
	const uint32_t t = job->dtype;
	const cl_ulong n = job->n;
	const size_t bytes = (size_t)n * es;
	const bool dot = job->op == HPC_OP_DOT;
	struct cl_operand a = {0}, b = {0};
	int rc = get_input(inst, job->a, bytes, es, job->region_id, job->a_off, job->a_gen, &a);
	if (!rc && dot)
		rc = get_input(inst, job->b, bytes, es, job->region_id, job->b_off, job->b_gen, &b);
	if (rc)
		goto out;

	/* Enough groups that each work-item streams a few thousand bytes at least. */
	size_t per_group = inst->l_red * HPC_CL_VEC * 64;
	size_t groups = (size_t)((n + per_group - 1) / per_group);
	if (groups < 1)
		groups = 1;
	if (groups > inst->max_groups)
		groups = inst->max_groups;
	size_t global = groups * inst->l_red;
	cl_ulong count = groups;
	size_t lbytes = inst->l_red * es;
	if (dot)
		rc = launch(inst, t, K_DOT,
			    ARGS(MEM(a.mem), ULONG(a.off), MEM(b.mem), ULONG(b.off), ULONG(n),
				 MEM(inst->part), LOCAL(lbytes)),
			    1, &global, &inst->l_red);
	else
		rc =
		    launch(inst, t, K_SUM,
			   ARGS(MEM(a.mem), ULONG(a.off), ULONG(n), MEM(inst->part), LOCAL(lbytes)),
			   1, &global, &inst->l_red);
	if (rc)
		goto out;
	rc =
	    launch(inst, t, K_FINAL, ARGS(MEM(inst->part), ULONG(count), LOCAL(inst->l_final * es)),
		   1, &inst->l_final, &inst->l_final);
	if (rc)
		goto out;
	union {
		double d;
		float f;
	} v;
	cl_int err = clEnqueueReadBuffer(inst->q, inst->part, CL_TRUE, (size_t)count * es, es, &v,
					 0, NULL, NULL);
	if (err != CL_SUCCESS) {
		rc = job_fail(inst, "clEnqueueReadBuffer", "result", err);
		goto out;
	}
	job->result = t == HPC_F64 ? v.d : (double)v.f;
out:
	if (a.mem)
		clReleaseMemObject(a.mem);
	if (b.mem)
		clReleaseMemObject(b.mem);
	return rc;
}

static int run_matvec(struct cl_inst *inst, struct hpc_job *job, size_t es)
{
	const uint32_t t = job->dtype;
	const cl_ulong m = job->m, n = job->n;
	struct cl_operand a = {0}, x = {0}, y = {0};
	int rc = get_input(inst, job->a, (size_t)(m * n) * es, es, job->region_id, job->a_off,
			   job->a_gen, &a);
	if (!rc)
		rc = get_input(inst, job->b, (size_t)n * es, es, job->region_id, job->b_off,
			       job->b_gen, &x);
	if (!rc)
		rc = get_output(inst, job->out, (size_t)m * es, es, false, &y);
	if (rc)
		goto out;
	if (inst->cpu_kernels) {
		size_t items = (size_t)((m + HPC_CL_MATVEC_ROWS - 1) / HPC_CL_MATVEC_ROWS);
		size_t global = hpc_cl_round_up(items, inst->l_flat);
		rc = launch(inst, t, K_MATVEC_ROWS,
			    ARGS(MEM(a.mem), ULONG(a.off), MEM(x.mem), ULONG(x.off), MEM(y.mem),
				 ULONG(y.off), ULONG(m), ULONG(n)),
			    1, &global, &inst->l_flat);
	} else {
		size_t global = (size_t)m * inst->l_red;
		rc = launch(inst, t, K_MATVEC_GROUP,
			    ARGS(MEM(a.mem), ULONG(a.off), MEM(x.mem), ULONG(x.off), MEM(y.mem),
				 ULONG(y.off), ULONG(m), ULONG(n), LOCAL(inst->l_red * es)),
			    1, &global, &inst->l_red);
	}
	if (!rc)
		rc = finish_output(inst, &y, job->out, (size_t)m * es, es);
out:
	if (a.mem)
		clReleaseMemObject(a.mem);
	if (x.mem)
		clReleaseMemObject(x.mem);
	if (y.mem)
		clReleaseMemObject(y.mem);
	return rc;
}

static int run_matmul(struct cl_inst *inst, struct hpc_job *job, size_t es)
{
	const uint32_t t = job->dtype;
	const cl_ulong m = job->m, n = job->n, k = job->k;
	struct cl_operand a = {0}, b = {0}, c = {0};
	int rc = get_input(inst, job->a, (size_t)(m * k) * es, es, job->region_id, job->a_off,
			   job->a_gen, &a);
	if (!rc)
		rc = get_input(inst, job->b, (size_t)(k * n) * es, es, job->region_id, job->b_off,
			       job->b_gen, &b);
	if (!rc)
		rc = get_output(inst, job->out, (size_t)(m * n) * es, es, false, &c);
	if (rc)
		goto out;
	size_t cols = (size_t)((n + HPC_CL_VEC - 1) / HPC_CL_VEC);
	size_t global[2] = {hpc_cl_round_up(cols, inst->l_flat), (size_t)m};
	size_t local[2] = {inst->l_flat, 1};
	rc = launch(inst, t, K_MATMUL,
		    ARGS(MEM(a.mem), ULONG(a.off), MEM(b.mem), ULONG(b.off), MEM(c.mem),
			 ULONG(c.off), ULONG(m), ULONG(n), ULONG(k)),
		    2, global, local);
	if (!rc)
		rc = finish_output(inst, &c, job->out, (size_t)(m * n) * es, es);
out:
	if (a.mem)
		clReleaseMemObject(a.mem);
	if (b.mem)
		clReleaseMemObject(b.mem);
	if (c.mem)
		clReleaseMemObject(c.mem);
	return rc;
}

static int run_axpy(struct cl_inst *inst, struct hpc_job *job, size_t es)
{
	const uint32_t t = job->dtype;
	const cl_ulong n = job->n;
	struct cl_operand x = {0}, y = {0};
	int rc =
	    get_input(inst, job->a, (size_t)n * es, es, job->region_id, job->a_off, job->a_gen, &x);
	if (!rc)
		rc = get_output(inst, job->out, (size_t)n * es, es, true, &y);
	if (rc)
		goto out;
	size_t global = hpc_cl_round_up((size_t)((n + HPC_CL_VEC - 1) / HPC_CL_VEC), inst->l_flat);
	double alpha_d = job->alpha;
	float alpha_f = (float)job->alpha;
	struct karg alpha = t == HPC_F64 ? (struct karg){sizeof(double), &alpha_d}
					 : (struct karg){sizeof(float), &alpha_f};
	rc = launch(inst, t, K_AXPY,
		    ARGS(alpha, MEM(x.mem), ULONG(x.off), MEM(y.mem), ULONG(y.off), ULONG(n)), 1,
		    &global, &inst->l_flat);
	if (!rc)
		rc = finish_output(inst, &y, job->out, (size_t)n * es, es);
out:
	if (x.mem)
		clReleaseMemObject(x.mem);
	if (y.mem)
		clReleaseMemObject(y.mem);
	return rc;
}

/* Jobs with an empty dimension: nothing for the device to do. Returns true when handled. */
static bool run_trivial(struct hpc_job *job, size_t es)
{
	switch (job->op) {
	case HPC_OP_MATVEC:
		if (job->m == 0)
			return true;
		if (job->n == 0) {
			memset(job->out, 0, (size_t)job->m * es);
			return true;
		}
		return false;
	case HPC_OP_MATMUL:
		if (job->m == 0 || job->n == 0)
			return true;
		if (job->k == 0) {
			memset(job->out, 0, (size_t)(job->m * job->n) * es);
			return true;
		}
		return false;
	case HPC_OP_DOT:
	case HPC_OP_SUM:
		if (job->n == 0) {
			job->result = 0;
			return true;
		}
		return false;
	default:
		return job->n == 0;
	}
}

static int cl_run(void *state, struct hpc_job *job)
{
	struct cl_inst *inst = state;
	if (!inst)
		return -EINVAL;
	int rc = hpcb_check_job(job);
	if (rc)
		return rc;
	const size_t es = hpc_dtype_size(job->dtype);
	if (run_trivial(job, es))
		return 0;

	pthread_mutex_lock(&inst->mu);
	rc = hpc_cl_dtype_check(job->dtype, inst->fp64);
	if (rc) {
		if (!inst->fp64_refusal_logged)
			inst_log(inst, HPC_LOG_ERROR, "f64 job refused: %s",
				 inst->fp64_hw
				     ? "fp64 = off in this backend's settings"
				     : "the device has no double precision (cl_khr_fp64)");
		inst->fp64_refusal_logged = true;
		goto out;
	}
	switch (job->op) {
	case HPC_OP_MATVEC:
		rc = run_matvec(inst, job, es);
		break;
	case HPC_OP_MATMUL:
		rc = run_matmul(inst, job, es);
		break;
	case HPC_OP_DOT:
	case HPC_OP_SUM:
		rc = run_reduction(inst, job, es);
		break;
	case HPC_OP_AXPY:
		rc = run_axpy(inst, job, es);
		break;
	}
	if (rc)
		clFinish(inst->q); /* nothing of this job may still run once we return */
out:
	pthread_mutex_unlock(&inst->mu);
	return rc;
}

/* ---- open / close ---------------------------------------------------------------- */

/*
 * Run every kernel once on tiny data so that PoCL's per-local-size compile
 * happens now and not in a client's first job. The results are discarded.
 */
static int warm_up(struct cl_inst *inst, struct hpc_open_args *args)
{
	double zeros[16] = {0}, out[16];
	cl_int err;
	cl_mem in = clCreateBuffer(inst->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
				   sizeof(zeros), zeros, &err);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clCreateBuffer failed: %s.", hpc_cl_errname(err));
		return -EIO;
	}
	cl_mem o = clCreateBuffer(inst->ctx, CL_MEM_READ_WRITE, sizeof(out), NULL, &err);
	if (err != CL_SUCCESS) {
		clReleaseMemObject(in);
		hpcb_err(args, -1, "clCreateBuffer failed: %s.", hpc_cl_errname(err));
		return -EIO;
	}
	int rc = 0;
	for (uint32_t t = 0; t < HPC_DTYPE__COUNT && !rc; t++) {
		if (!inst->prog[t].prog)
			continue;
		size_t es = hpc_dtype_size(t);
		cl_ulong zero = 0, one = 1, eight = 8;
		double alpha_d = 0;
		float alpha_f = 0;
		struct karg alpha = t == HPC_F64 ? (struct karg){sizeof(double), &alpha_d}
						 : (struct karg){sizeof(float), &alpha_f};
		size_t g2[2] = {inst->l_flat, 1}, l2[2] = {inst->l_flat, 1};
		size_t lr = inst->l_red * es;
		rc = launch(inst, t, K_DOT,
			    ARGS(MEM(in), ULONG(zero), MEM(in), ULONG(zero), ULONG(eight),
				 MEM(inst->part), LOCAL(lr)),
			    1, &inst->l_red, &inst->l_red);
		if (!rc)
			rc = launch(
			    inst, t, K_SUM,
			    ARGS(MEM(in), ULONG(zero), ULONG(eight), MEM(inst->part), LOCAL(lr)), 1,
			    &inst->l_red, &inst->l_red);
		if (!rc)
			rc = launch(inst, t, K_FINAL,
				    ARGS(MEM(inst->part), ULONG(one), LOCAL(inst->l_final * es)), 1,
				    &inst->l_final, &inst->l_final);
		if (!rc)
			rc = launch(inst, t, K_MATVEC_ROWS,
				    ARGS(MEM(in), ULONG(zero), MEM(in), ULONG(zero), MEM(o),
					 ULONG(zero), ULONG(one), ULONG(eight)),
				    1, &inst->l_flat, &inst->l_flat);
		if (!rc)
			rc = launch(inst, t, K_MATVEC_GROUP,
				    ARGS(MEM(in), ULONG(zero), MEM(in), ULONG(zero), MEM(o),
					 ULONG(zero), ULONG(one), ULONG(eight), LOCAL(lr)),
				    1, &inst->l_red, &inst->l_red);
		if (!rc)
			rc = launch(inst, t, K_MATMUL,
				    ARGS(MEM(in), ULONG(zero), MEM(in), ULONG(zero), MEM(o),
					 ULONG(zero), ULONG(one), ULONG(one), ULONG(one)),
				    2, g2, l2);
		if (!rc)
			rc = launch(
			    inst, t, K_AXPY,
			    ARGS(alpha, MEM(in), ULONG(zero), MEM(o), ULONG(zero), ULONG(eight)), 1,
			    &inst->l_flat, &inst->l_flat);
	}
	if (!rc) {
		err = clFinish(inst->q);
		if (err != CL_SUCCESS)
			rc = job_fail(inst, "clFinish", "warm-up", err);
	}
	if (rc)
		hpcb_err(args, -1,
			 "a first run of the kernels on \"%s\" failed (errno %d); see the log.",
			 inst->dev_name, -rc);
	clReleaseMemObject(o);
	clReleaseMemObject(in);
	return rc;
}

static void cl_close(void *state);

/*
 * The ICD loader keeps its drivers loaded for the life of the process, and
 * PoCL keeps worker threads running inside its code. If a reload dlclose()d
 * this plugin and with it the last reference to libOpenCL, those would be
 * unmapped under the threads. Pinning the loader keeps them safe.
 */
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_loader(void)
{
	void *h = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
	(void)h; /* deliberately never closed */
}

/*
 * PoCL starts its worker threads when the first context is made, and a new
 * thread inherits the signal mask of its creator. The daemon takes SIGTERM,
 * SIGINT and SIGHUP through a signalfd, with the signals blocked in its own
 * threads; an OpenCL runtime thread that left them unblocked would take one
 * with its default action and end the daemon. So every asynchronous signal is
 * blocked while open() runs; the faults a thread raises itself stay deliverable.
 */
static void block_async_signals(sigset_t *old)
{
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGTRAP);
	sigdelset(&set, SIGABRT);
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static int open_instance(struct hpc_open_args *args, void **state);

static int cl_open(struct hpc_open_args *args, void **state)
{
	sigset_t old;
	block_async_signals(&old);
	int rc = open_instance(args, state);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int open_instance(struct hpc_open_args *args, void **state)
{
	if (!args || !state || (args->nsettings && !args->settings))
		return -EINVAL;
	struct cl_opts o;
	int rc = parse_settings(args, &o);
	if (rc)
		return rc;
	pthread_once(&pin_once, pin_loader);

	struct cl_inst *inst = calloc(1, sizeof(*inst));
	if (!inst) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	inst->host = args->host;
	snprintf(inst->instance, sizeof(inst->instance), "%s",
		 args->instance ? args->instance : "");
	rc = pthread_mutex_init(&inst->mu, NULL);
	if (rc) {
		free(inst);
		hpcb_err(args, -1, "cannot create the instance's lock: %s.", strerror(rc));
		return -rc;
	}
	uint64_t t0 = hpcb_now_ms();

	struct cl_catalog cat;
	rc = catalog_load(&cat, args);
	if (!rc)
		rc = choose_device(inst, &cat, &o.choice, args);
	catalog_free(&cat);
	cl_ulong global_mem = 0, local_mem = 0;
	if (!rc)
		rc = query_device(inst, &o, args, &global_mem, &local_mem);
	if (rc)
		goto fail;

	cl_int err;
	inst->ctx = clCreateContext(NULL, 1, &inst->dev, NULL, NULL, &err);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clCreateContext for \"%s\" failed: %s.", inst->dev_name,
			 hpc_cl_errname(err));
		rc = -EIO;
		goto fail;
	}
	inst->q = clCreateCommandQueue(inst->ctx, inst->dev, 0, &err);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clCreateCommandQueue for \"%s\" failed: %s.", inst->dev_name,
			 hpc_cl_errname(err));
		rc = -EIO;
		goto fail;
	}
	rc = build_program(inst, HPC_F32, &o, args);
	if (!rc && inst->fp64)
		rc = build_program(inst, HPC_F64, &o, args);
	if (!rc)
		rc = plan_geometry(inst, local_mem, args);
	if (rc)
		goto fail;
	inst->part = clCreateBuffer(inst->ctx, CL_MEM_READ_WRITE,
				    (inst->max_groups + 1) * sizeof(double), NULL, &err);
	if (err != CL_SUCCESS) {
		hpcb_err(args, -1, "clCreateBuffer failed: %s.", hpc_cl_errname(err));
		rc = -EIO;
		goto fail;
	}
	rc = warm_up(inst, args);
	if (rc)
		goto fail;

	cl_ulong limit = o.cache_set ? (cl_ulong)o.cache_mb << 20 : global_mem / 2;
	hpcb_lru_init(&inst->lru, CL_CACHE_ENTRIES, limit > SIZE_MAX ? SIZE_MAX : (size_t)limit,
		      cache_evict, inst);
	if (!inst->fp64_hw)
		inst_log(inst, HPC_LOG_WARN,
			 "device \"%s\" has no double precision (cl_khr_fp64): f64 jobs will be "
			 "refused",
			 inst->dev_name);
	inst_log(inst, HPC_LOG_INFO,
		 "device \"%s\" (platform %u \"%s\", device %u), %u compute units, fp64 %s, "
		 "zero copy %s, %s kernels, local sizes %zu/%zu/%zu; ready in %llu ms",
		 inst->dev_name, inst->plat_idx, inst->plat_name, inst->dev_idx, inst->cus,
		 inst->fp64 ? "yes" : "no", inst->zero_copy ? "on" : "off",
		 inst->cpu_kernels ? "cpu" : "gpu", inst->l_flat, inst->l_red, inst->l_final,
		 (unsigned long long)(hpcb_now_ms() - t0));
	*state = inst;
	return 0;
fail:
	cl_close(inst);
	return rc;
}

static void cl_close(void *state)
{
	struct cl_inst *inst = state;
	if (!inst)
		return;
	if (inst->q)
		clFinish(inst->q);
	hpcb_lru_clear(&inst->lru); /* no slot before open() got that far */
	if (inst->part)
		clReleaseMemObject(inst->part);
	for (uint32_t t = 0; t < HPC_DTYPE__COUNT; t++) {
		for (int k = 0; k < K__COUNT; k++)
			if (inst->prog[t].k[k])
				clReleaseKernel(inst->prog[t].k[k]);
		if (inst->prog[t].prog)
			clReleaseProgram(inst->prog[t].prog);
	}
	if (inst->q)
		clReleaseCommandQueue(inst->q);
	if (inst->ctx)
		clReleaseContext(inst->ctx);
	pthread_mutex_destroy(&inst->mu);
	free(inst);
}

/*
 * A client left: drop every buffer cached over its region. With zero copy
 * they point into memory the daemon is about to unmap; with copies they
 * hold device memory that only LRU eviction would otherwise give back.
 */
static void cl_forget_region(void *state, uint64_t region_id)
{
	struct cl_inst *inst = state;
	pthread_mutex_lock(&inst->mu);
	unsigned n = (unsigned)__builtin_popcountll(
	    hpcb_lru_drop_if(&inst->lru, cache_in_region, &region_id));
	inst->evicted -= n; /* not evictions: counted apart */
	inst->forgotten += n;
	pthread_mutex_unlock(&inst->mu);
}

static int cl_describe(void *state, char *buf, size_t len)
{
	struct cl_inst *inst = state;
	if (!inst || !buf || len == 0)
		return -EINVAL;
	pthread_mutex_lock(&inst->mu);
	int n = snprintf(buf, len,
			 "device=\"%.60s\" (%s, platform %u \"%.40s\", device %u) fp64=%s "
			 "zero_copy=%s kernels=%s buffers: created=%llu reused=%llu "
			 "uploads=%llu upload_mb=%.1f cached=%u cache_mb=%.1f forgotten=%llu",
			 inst->dev_name,
			 inst->is_gpu   ? "gpu"
			 : inst->is_cpu ? "cpu"
					: "other",
			 inst->plat_idx, inst->plat_name, inst->dev_idx, inst->fp64 ? "yes" : "no",
			 inst->zero_copy ? "on" : "off", inst->cpu_kernels ? "cpu" : "gpu",
			 (unsigned long long)inst->created, (unsigned long long)inst->reused,
			 (unsigned long long)inst->uploads, (double)inst->upload_bytes / 1048576.0,
			 inst->lru.used, (double)inst->lru.bytes / 1048576.0,
			 (unsigned long long)inst->forgotten);
	pthread_mutex_unlock(&inst->mu);
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(cl_ops, .name = "opencl", .version = "0.1.0", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .schema = cl_schema, .open = cl_open, .run = cl_run,
		  .close = cl_close, .describe = cl_describe, .forget_region = cl_forget_region)
