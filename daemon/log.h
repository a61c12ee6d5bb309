/*
 * daemon/log.h - the daemon's log: one line per event on standard error,
 * with a timestamp and a level.
 */
#ifndef HPCD_LOG_H
#define HPCD_LOG_H

#include "hpc/plugin.h" /* enum hpc_log_level */

/* Lines above this level are dropped. Default HPC_LOG_INFO. */
void hpcd_log_set_level(int level);
int hpcd_log_level(void);

/* Log one line; a trailing newline is added. Thread-safe (one write(2) per line). */
void hpcd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hpcd_err(...) hpcd_log(HPC_LOG_ERROR, __VA_ARGS__)
#define hpcd_warn(...) hpcd_log(HPC_LOG_WARN, __VA_ARGS__)
#define hpcd_info(...) hpcd_log(HPC_LOG_INFO, __VA_ARGS__)
#define hpcd_debug(...) hpcd_log(HPC_LOG_DEBUG, __VA_ARGS__)

#endif /* HPCD_LOG_H */
