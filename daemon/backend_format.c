/*
 * daemon/backend_format.c - the one-line text of an instance, for
 * `hpcrun backends` and `hpcd --check`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/loader_pvt.h"

/* snprintf that keeps counting past the end, so the caller learns the size it needs. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void out_add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	int n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

/* A config value inside one tab-separated field. */
static void out_field(struct out *o, const char *s)
{
	for (; *s; s++)
		out_add(o, "%c", (*s == '\t' || *s == '\n' || *s == '\r') ? ' ' : *s);
}

static void out_ops(struct out *o, uint32_t mask)
{
	bool first = true;
	for (uint32_t op = HPC_OP_NONE + 1; op < HPC_OP__COUNT; op++) {
		if (!(mask & HPC_OP_BIT(op)))
			continue;
		out_add(o, "%s%s", first ? "" : ",", hpc_op_name(op));
		first = false;
	}
}

int hpcd_backend_format(const struct hpcd_backend *b, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	const struct hpc_plugin_ops *ops = b->ops;

	if (len)
		buf[0] = '\0';
	out_add(&o, "%s\tplugin=%s %s file=", b->name, ops->name,
		ops->version ? ops->version : "?");
	out_field(&o, hpcd_plugin_path(b->plugin));
	/* Two builds at one path differ in modification time and inode. */
	struct tm tm;
	localtime_r(&b->plugin->mtim.tv_sec, &tm);
	out_add(&o, " built=%04d-%02d-%02dT%02d:%02d:%02d.%03ld ino=%llu", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		b->plugin->mtim.tv_nsec / 1000000, (unsigned long long)b->plugin->ino);
	out_add(&o, "\tops=");
	if (ops->ops_f64 == ops->ops_f32) {
		out_ops(&o, ops->ops_f64);
		out_add(&o, " (f64,f32)");
	} else {
		if (ops->ops_f64) {
			out_ops(&o, ops->ops_f64);
			out_add(&o, " (f64)%s", ops->ops_f32 ? " " : "");
		}
		if (ops->ops_f32) {
			out_ops(&o, ops->ops_f32);
			out_add(&o, " (f32)");
		}
	}
	for (uint32_t i = 0; i < b->conf.nsettings; i++) {
		out_add(&o, "\t");
		out_field(&o, b->conf.settings[i].key);
		out_add(&o, "=");
		out_field(&o, b->conf.settings[i].value);
	}
	/* Asked afresh, so that counters a plugin reports are current; a broken
	 * instance is never called again and shows its last line. */
	char info[sizeof(b->info)];
	struct hpcd_backend *mb = (struct hpcd_backend *)b; /* the cache is not the instance */
	if (!hpcd_backend_broken(b) && ops->describe &&
	    ops->describe(b->state, info, sizeof(info)) == 0) {
		info[sizeof(info) - 1] = '\0';
		hpcd_loader_flatten(info);
		pthread_mutex_lock(&mb->info_lock);
		memcpy(mb->info, info, sizeof(info));
		pthread_mutex_unlock(&mb->info_lock);
	} else {
		pthread_mutex_lock(&mb->info_lock);
		memcpy(info, b->info, sizeof(info));
		pthread_mutex_unlock(&mb->info_lock);
	}
	if (info[0])
		out_add(&o, "\tinfo=%s", info);
	if (hpcd_backend_broken(b))
		out_add(&o, "\tstate=crashed");
	out_add(&o, "\tgen=%llu", (unsigned long long)b->generation);
	return (int)o.pos;
}
