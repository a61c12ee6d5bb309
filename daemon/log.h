/*
 * daemon/log.h - the daemon's log: one line per event on standard error,
 * with a timestamp and a level.
 */
#ifndef HPCD_LOG_H
#define HPCD_LOG_H

#include <stdint.h>

#include "hpc/plugin.h" /* enum hpc_log_level */

/* Lines above this level are dropped. Default HPC_LOG_INFO. */
void hpcd_log_set_level(int level);
int hpcd_log_level(void);

/* Log one line; a trailing newline is added. Thread-safe (one write(2) per line). */
void hpcd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A rate limit for lines that a storm could repeat (after the kernel's
 * printk_ratelimit): at most `burst` lines per `interval_ns`; the lines
 * dropped in a window are counted and reported with the first line of the next.
 * One per call site; not thread-safe (each belongs to one thread).
 */
struct hpcd_ratelimit {
	uint64_t window_start_ns;
	unsigned printed, suppressed;
};

/*
 * Whether a line may be logged now. When it may and lines were dropped
 * before, *dropped receives how many (else 0).
 */
int hpcd_ratelimit_ok(struct hpcd_ratelimit *rl, unsigned burst, uint64_t interval_ns,
		      unsigned *dropped);

#define hpcd_err(...) hpcd_log(HPC_LOG_ERROR, __VA_ARGS__)
#define hpcd_warn(...) hpcd_log(HPC_LOG_WARN, __VA_ARGS__)
#define hpcd_info(...) hpcd_log(HPC_LOG_INFO, __VA_ARGS__)
#define hpcd_debug(...) hpcd_log(HPC_LOG_DEBUG, __VA_ARGS__)

#endif /* HPCD_LOG_H */
