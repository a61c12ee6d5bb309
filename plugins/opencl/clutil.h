/*
 * plugins/opencl/clutil.h - the parts of the opencl backend that need no
 * OpenCL runtime: error names, the device-selection rules, the element-type
 * decision and the geometry of zero-copy buffers. Kept apart so that tests
 * can check them on any machine, with or without a device.
 *
 * Private to the plugin: the version script keeps these symbols unexported.
 */
#ifndef HPC_OPENCL_CLUTIL_H
#define HPC_OPENCL_CLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), or
 * "CL_UNKNOWN_ERROR" for a code this file does not know. Never NULL.
 */
const char *hpc_cl_errname(int32_t err);

/*
 * The negative errno a job fails with for an OpenCL error: -ENOMEM for the
 * out-of-memory family, -EFBIG for a buffer too large, -EIO otherwise.
 */
int hpc_cl_errno(int32_t err);

/*
 * Resolve a platform or device setting against the names of the candidates.
 * A value of digits only is an index; anything else is a case-insensitive
 * substring of the name, and the first candidate containing it is taken.
 * Returns 0 and stores the index, -ERANGE for an index >= n, -ENOENT when no
 * name contains the substring, -EINVAL for an empty value.
 */
int hpc_cl_match(const char *value, const char *const *names, unsigned n, unsigned *idx);

/* Device kinds, as far as the default choice cares. */
enum hpc_cl_kind { HPC_CL_KIND_OTHER = 0, HPC_CL_KIND_GPU = 1 };

/* The default device among n (n > 0): the first GPU, else the first device. */
unsigned hpc_cl_default_device(const enum hpc_cl_kind *kinds, unsigned n);

/*
 * Whether an instance runs jobs of this element type: f32 always, f64 only
 * on a device with cl_khr_fp64 (fp64 true). Returns 0 or -EOPNOTSUPP.
 */
int hpc_cl_dtype_check(uint32_t dtype, bool fp64);

/*
 * A zero-copy buffer over [p, p + bytes) must start at an address aligned to
 * `align` (a power of two, a multiple of elem): the buffer starts at *base,
 * the start of p's aligned block, spans *span bytes, and the operand begins
 * *elem_off elements into it. p must be aligned to elem.
 */
void hpc_cl_host_span(const void *p, size_t bytes, size_t align, size_t elem, const void **base,
		      size_t *span, uint64_t *elem_off);

/* Largest power of two <= x (x >= 1); 1 for x = 0. */
size_t hpc_cl_pow2_floor(size_t x);

/* x rounded up to a multiple of m (m >= 1). */
size_t hpc_cl_round_up(size_t x, size_t m);

#ifdef __cplusplus
}
#endif

#endif /* HPC_OPENCL_CLUTIL_H */
