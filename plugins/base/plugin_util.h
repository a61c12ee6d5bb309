/*
 * plugins/base/plugin_util.h - private helpers shared by the in-process
 * backend plugins (serial, openmp): error reporting from open(), parsing of
 * setting values and the checks every run() makes on a job.
 *
 * Not part of any ABI: each plugin links its own copy, and the version script
 * keeps these symbols out of the plugin's exports.
 */
#ifndef HPC_PLUGIN_UTIL_H
#define HPC_PLUGIN_UTIL_H

#include <stdint.h>

#include "hpc/plugin.h"

/*
 * Write one sentence (printf-style) into args->err and, when setting >= 0,
 * blame that setting by storing its index in args->err_setting. Safe when
 * args->err is NULL or args->err_len is 0 (nothing is written then).
 */
void hpcb_err(struct hpc_open_args *args, int32_t setting, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Log one line through the host table, attributed to the instance: through
 * host->vlog when the host has it (ABI 2), else formatted here and passed to
 * host->log. Nothing happens when host is NULL or offers neither.
 */
void hpcb_log(const struct hpc_host *host, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in nanoseconds and in milliseconds (system-wide: comparable across processes). */
uint64_t hpcb_now_ns(void);
uint64_t hpcb_now_ms(void);

/*
 * Parse a decimal integer in [lo, hi]: digits only (no sign, no spaces, no
 * suffix), so that "2x" or " 2" are refused rather than read as 2.
 * Returns 0 and stores the value in *out, -EINVAL when s is not such a
 * number, or -ERANGE when it is one but lies outside [lo, hi].
 */
int hpcb_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out);

/*
 * Check a job before a kernel touches it: a known op and dtype, shapes whose
 * element and byte counts fit in size_t, and a non-NULL pointer for every
 * operand that has at least one element.
 * Returns 0, -EOPNOTSUPP (unknown op or dtype), -EOVERFLOW or -EINVAL.
 */
int hpcb_check_job(const struct hpc_job *job);

/*
 * The amount of work of a checked job, in multiply-adds or elements touched
 * (m*n for matvec, m*n*k for matmul, n otherwise), saturated at UINT64_MAX.
 * Used to decide whether a job is worth a parallel region.
 */
uint64_t hpcb_job_work(const struct hpc_job *job);

#endif /* HPC_PLUGIN_UTIL_H */
