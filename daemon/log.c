#include "daemon/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = HPC_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void hpcd_log_set_level(int level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int hpcd_log_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

void hpcd_log(int level, const char *fmt, ...)
{
	if (level > hpcd_log_level())
		return;
	if (level < 0)
		level = 0;
	if (level > HPC_LOG_DEBUG)
		level = HPC_LOG_DEBUG;

	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "%04d-%02d-%02d %02d:%02d:%02d.%03ld hpcd[%d] %s: ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, (int)getpid(), level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so that lines of concurrent threads never interleave. */
	ssize_t rc = write(STDERR_FILENO, line, len);
	(void)rc;
}

int hpcd_ratelimit_ok(struct hpcd_ratelimit *rl, unsigned burst, uint64_t interval_ns,
		      unsigned *dropped)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	*dropped = 0;
	if (!rl->window_start_ns || now - rl->window_start_ns >= interval_ns) {
		rl->window_start_ns = now;
		rl->printed = 0;
		*dropped = rl->suppressed;
		rl->suppressed = 0;
	}
	if (rl->printed < burst) {
		rl->printed++;
		return 1;
	}
	rl->suppressed++;
	return 0;
}
