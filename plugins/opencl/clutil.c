#include "plugins/opencl/clutil.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "hpc/types.h"

/*
 * By number rather than by the CL_* macros: the names stay right whatever
 * CL_TARGET_OPENCL_VERSION the headers are read with, and this file needs no
 * OpenCL header at all.
 */
const char *hpc_cl_errname(int32_t err)
{
	/* clang-format off */
	switch (err) {
	case 0: return "CL_SUCCESS";
	case -1: return "CL_DEVICE_NOT_FOUND";
	case -2: return "CL_DEVICE_NOT_AVAILABLE";
	case -3: return "CL_COMPILER_NOT_AVAILABLE";
	case -4: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
	case -5: return "CL_OUT_OF_RESOURCES";
	case -6: return "CL_OUT_OF_HOST_MEMORY";
	case -7: return "CL_PROFILING_INFO_NOT_AVAILABLE";
	case -8: return "CL_MEM_COPY_OVERLAP";
	case -9: return "CL_IMAGE_FORMAT_MISMATCH";
	case -10: return "CL_IMAGE_FORMAT_NOT_SUPPORTED";
	case -11: return "CL_BUILD_PROGRAM_FAILURE";
	case -12: return "CL_MAP_FAILURE";
	case -13: return "CL_MISALIGNED_SUB_BUFFER_OFFSET";
	case -14: return "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST";
	case -15: return "CL_COMPILE_PROGRAM_FAILURE";
	case -16: return "CL_LINKER_NOT_AVAILABLE";
	case -17: return "CL_LINK_PROGRAM_FAILURE";
	case -18: return "CL_DEVICE_PARTITION_FAILED";
	case -19: return "CL_KERNEL_ARG_INFO_NOT_AVAILABLE";
	case -30: return "CL_INVALID_VALUE";
	case -31: return "CL_INVALID_DEVICE_TYPE";
	case -32: return "CL_INVALID_PLATFORM";
	case -33: return "CL_INVALID_DEVICE";
	case -34: return "CL_INVALID_CONTEXT";
	case -35: return "CL_INVALID_QUEUE_PROPERTIES";
	case -36: return "CL_INVALID_COMMAND_QUEUE";
	case -37: return "CL_INVALID_HOST_PTR";
	case -38: return "CL_INVALID_MEM_OBJECT";
	case -39: return "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR";
	case -40: return "CL_INVALID_IMAGE_SIZE";
	case -41: return "CL_INVALID_SAMPLER";
	case -42: return "CL_INVALID_BINARY";
	case -43: return "CL_INVALID_BUILD_OPTIONS";
	case -44: return "CL_INVALID_PROGRAM";
	case -45: return "CL_INVALID_PROGRAM_EXECUTABLE";
	case -46: return "CL_INVALID_KERNEL_NAME";
	case -47: return "CL_INVALID_KERNEL_DEFINITION";
	case -48: return "CL_INVALID_KERNEL";
	case -49: return "CL_INVALID_ARG_INDEX";
	case -50: return "CL_INVALID_ARG_VALUE";
	case -51: return "CL_INVALID_ARG_SIZE";
	case -52: return "CL_INVALID_KERNEL_ARGS";
	case -53: return "CL_INVALID_WORK_DIMENSION";
	case -54: return "CL_INVALID_WORK_GROUP_SIZE";
	case -55: return "CL_INVALID_WORK_ITEM_SIZE";
	case -56: return "CL_INVALID_GLOBAL_OFFSET";
	case -57: return "CL_INVALID_EVENT_WAIT_LIST";
	case -58: return "CL_INVALID_EVENT";
	case -59: return "CL_INVALID_OPERATION";
	case -60: return "CL_INVALID_GL_OBJECT";
	case -61: return "CL_INVALID_BUFFER_SIZE";
	case -62: return "CL_INVALID_MIP_LEVEL";
	case -63: return "CL_INVALID_GLOBAL_WORK_SIZE";
	case -64: return "CL_INVALID_PROPERTY";
	case -65: return "CL_INVALID_IMAGE_DESCRIPTOR";
	case -66: return "CL_INVALID_COMPILER_OPTIONS";
	case -67: return "CL_INVALID_LINKER_OPTIONS";
	case -68: return "CL_INVALID_DEVICE_PARTITION_COUNT";
	case -69: return "CL_INVALID_PIPE_SIZE";
	case -70: return "CL_INVALID_DEVICE_QUEUE";
	case -71: return "CL_INVALID_SPEC_ID";
	case -72: return "CL_MAX_SIZE_RESTRICTION_EXCEEDED";
	case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
	default: return "CL_UNKNOWN_ERROR";
	}
	/* clang-format on */
}

int hpc_cl_errno(int32_t err)
{
	switch (err) {
	case -4: /* CL_MEM_OBJECT_ALLOCATION_FAILURE */
	case -5: /* CL_OUT_OF_RESOURCES */
	case -6: /* CL_OUT_OF_HOST_MEMORY */
		return -ENOMEM;
	case -61: /* CL_INVALID_BUFFER_SIZE */
		return -EFBIG;
	default:
		return -EIO;
	}
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Case-insensitive strstr for ASCII names. */
static bool contains_nocase(const char *hay, const char *needle)
{
	size_t nl = strlen(needle);
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < nl && hay[i] &&
		       tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
			i++;
		if (i == nl)
			return true;
	}
	return nl == 0;
}

int hpc_cl_match(const char *value, const char *const *names, unsigned n, unsigned *idx)
{
	if (!value || !*value)
		return -EINVAL;
	if (all_digits(value)) {
		unsigned long v = 0;
		for (const char *p = value; *p; p++) {
			v = v * 10 + (unsigned long)(*p - '0');
			if (v >= n)
				return -ERANGE; /* also stops overflow of long digit strings */
		}
		*idx = (unsigned)v;
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (names[i] && contains_nocase(names[i], value)) {
			*idx = i;
			return 0;
		}
	}
	return -ENOENT;
}

unsigned hpc_cl_default_device(const enum hpc_cl_kind *kinds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (kinds[i] == HPC_CL_KIND_GPU)
			return i;
	return 0;
}

int hpc_cl_dtype_check(uint32_t dtype, bool fp64)
{
	if (dtype == HPC_F32)
		return 0;
	if (dtype == HPC_F64)
		return fp64 ? 0 : -EOPNOTSUPP;
	return -EOPNOTSUPP;
}

void hpc_cl_host_span(const void *p, size_t bytes, size_t align, size_t elem, const void **base,
		      size_t *span, uint64_t *elem_off)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t b = a & ~(uintptr_t)(align - 1);
	*base = (const void *)b;
	*span = (size_t)(a - b) + bytes;
	*elem_off = (uint64_t)((a - b) / elem);
}

size_t hpc_cl_pow2_floor(size_t x)
{
	size_t p = 1;
	while (x / 2 >= p)
		p *= 2;
	return p;
}

size_t hpc_cl_round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}
