#include "daemon/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpc/ops.h"
#include "hpc/wire.h"

static const char *const outcome_names[HPCD_OUT__COUNT] = {
    "ok", "unsupported", "failed", "crashed", "broken",
};
static const char *const reject_names[HPCD_REJ__COUNT] = {"invalid", "no_backend", "shutdown"};
static const char *const refusal_names[HPCD_REF__COUNT] = {
    "fds", "not_allowed", "max_clients", "max_arena", "max_total_arena", "other",
};
/* The bucket bounds of hpcd_metrics_job(), as Prometheus reads them (seconds). */
static const char *const le_text[HPCD_METRICS_BUCKETS] = {
    "1e-06", "2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005",
    "0.001", "0.0025",  "0.005", "0.01",  "0.025",   "0.05",  "0.1",    "0.25",    "0.5",
    "1",     "2.5",     "5",     "10",    "25",      "50",    "100",
};

void hpcd_metrics_init(struct hpcd_metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void hpcd_metrics_fini(struct hpcd_metrics *m)
{
	struct hpcd_metrics_inst *mi = m->head;
	while (mi) {
		struct hpcd_metrics_inst *next = mi->next;
		free(mi);
		mi = next;
	}
	m->head = NULL;
	pthread_mutex_destroy(&m->lock);
}

void hpcd_metrics_plugin_name(const char *plugin, char *out, size_t len)
{
	if (!len)
		return;
	const char *base = plugin ? strrchr(plugin, '/') : NULL;
	base = base ? base + 1 : plugin ? plugin : "";
	size_t n = strlen(base);
	/* A path names libhpc_NAME.so; the label is NAME, as for a plugin given by name. */
	if (n > 10 && strncmp(base, "libhpc_", 7) == 0 && strcmp(base + n - 3, ".so") == 0) {
		base += 7;
		n -= 10;
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, base, n);
	out[n] = '\0';
}

static struct hpcd_metrics_inst *find(struct hpcd_metrics_inst *mi, const char *name,
				      const char *plugin)
{
	for (; mi; mi = mi->next)
		if (strcmp(mi->name, name) == 0 && strcmp(mi->plugin, plugin) == 0)
			return mi;
	return NULL;
}

struct hpcd_metrics_inst *hpcd_metrics_instance(struct hpcd_metrics *m, const char *name,
						const char *plugin)
{
	char pl[HPC_BACKEND_NAME_MAX + 1];
	hpcd_metrics_plugin_name(plugin, pl, sizeof(pl));
	/* Acquire pairs with the release in the publish below: a block seen is complete. */
	struct hpcd_metrics_inst *mi = find(__atomic_load_n(&m->head, __ATOMIC_ACQUIRE), name, pl);
	if (mi)
		return mi;
	pthread_mutex_lock(&m->lock);
	mi = find(m->head, name, pl); /* another thread may have just made it */
	if (!mi) {
		mi = calloc(1, sizeof(*mi));
		if (mi) {
			snprintf(mi->name, sizeof(mi->name), "%s", name);
			memcpy(mi->plugin, pl, sizeof(pl));
			mi->next = m->head;
			__atomic_store_n(&m->head, mi, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return mi;
}

enum hpcd_metrics_outcome hpcd_metrics_outcome(int32_t status, uint32_t detail)
{
	if (status == 0)
		return HPCD_OUT_OK;
	switch (detail) {
	case HPC_E_UNSUPPORTED:
		return HPCD_OUT_UNSUPPORTED;
	case HPC_E_BACKEND_CRASHED:
		return HPCD_OUT_CRASHED;
	case HPC_E_BACKEND_BROKEN:
		return HPCD_OUT_BROKEN;
	default:
		return HPCD_OUT_FAILED;
	}
}

/* A label value as the exposition format wants it: \, " and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void inst_labels(FILE *f, const struct hpcd_metrics_inst *mi)
{
	fputs("backend=\"", f);
	put_label(f, mi->name);
	fputs("\",plugin=\"", f);
	put_label(f, mi->plugin);
	fputc('"', f);
}

/* Names for labels; every index the blocks use has one (the fallback keeps the format safe). */
static const char *op_label(unsigned op)
{
	const char *n = hpc_op_name(op);
	return n ? n : "unknown";
}

static const char *dtype_label(unsigned dt)
{
	const char *n = hpc_dtype_name(dt);
	return n ? n : "unknown";
}

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t op_count(const struct hpcd_metrics_inst *mi, unsigned op)
{
	uint64_t n = 0;
	for (unsigned b = 0; b <= HPCD_METRICS_BUCKETS; b++)
		n += ld(&mi->dur_bucket[op][b]);
	return n;
}

int hpcd_metrics_render(struct hpcd_metrics *m, const struct hpcd_metrics_daemon *d,
			hpcd_metrics_up_fn up, void *up_ctx, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	/* Oldest block first, so that the output keeps its order from scrape to scrape. */
	size_t ninst = 0;
	struct hpcd_metrics_inst *head = __atomic_load_n(&m->head, __ATOMIC_ACQUIRE);
	for (struct hpcd_metrics_inst *mi = head; mi; mi = mi->next)
		ninst++;
	struct hpcd_metrics_inst **v = calloc(ninst ? ninst : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t i = ninst;
	for (struct hpcd_metrics_inst *mi = head; mi; mi = mi->next)
		v[--i] = mi;

	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f) {
		free(v);
		return -ENOMEM;
	}

	family(f, "hpcd_info", "gauge", "The daemon's version; always 1.");
	fputs("hpcd_info{version=\"", f);
	put_label(f, d->version);
	fputs("\"} 1\n", f);
	family(f, "hpcd_uptime_seconds", "gauge", "Seconds since the daemon started.");
	fprintf(f, "hpcd_uptime_seconds %.3f\n", d->uptime_s);
	family(f, "hpcd_clients_connected", "gauge", "Clients with a region now.");
	fprintf(f, "hpcd_clients_connected %llu\n", (unsigned long long)d->clients_connected);
	family(f, "hpcd_clients_total", "counter",
	       "Clients given a region since the daemon started.");
	fprintf(f, "hpcd_clients_total %llu\n", (unsigned long long)d->clients_total);
	family(f, "hpcd_connections_refused_total", "counter",
	       "Connections or region requests refused, by reason.");
	for (unsigned r = 0; r < HPCD_REF__COUNT; r++)
		fprintf(f, "hpcd_connections_refused_total{reason=\"%s\"} %llu\n", refusal_names[r],
			(unsigned long long)d->refused[r]);
	family(f, "hpcd_arena_bytes_in_use", "gauge",
	       "Bytes of the regions of connected and departing clients (what max_total_arena_mb "
	       "limits).");
	fprintf(f, "hpcd_arena_bytes_in_use %llu\n", (unsigned long long)d->arena_in_use);
	family(f, "hpcd_max_arena_bytes", "gauge",
	       "The largest arena one client may have (max_arena_mb).");
	fprintf(f, "hpcd_max_arena_bytes %llu\n", (unsigned long long)d->max_arena_bytes);
	family(f, "hpcd_max_total_arena_bytes", "gauge",
	       "The most region bytes all clients together may hold (max_total_arena_mb).");
	fprintf(f, "hpcd_max_total_arena_bytes %llu\n",
		(unsigned long long)d->max_total_arena_bytes);
	family(f, "hpcd_max_clients", "gauge", "The most clients served at once (max_clients).");
	fprintf(f, "hpcd_max_clients %llu\n", (unsigned long long)d->max_clients);
	family(f, "hpcd_reloads_total", "counter", "Config reloads, by outcome.");
	fprintf(f, "hpcd_reloads_total{outcome=\"ok\"} %llu\n", (unsigned long long)d->reloads_ok);
	fprintf(f, "hpcd_reloads_total{outcome=\"refused\"} %llu\n",
		(unsigned long long)d->reloads_refused);
	family(f, "hpcd_config_generation", "gauge",
	       "Generation of the backends now serving (1 at start, +1 per reload).");
	fprintf(f, "hpcd_config_generation %llu\n", (unsigned long long)d->generation);
	family(f, "hpcd_jobs_rejected_total", "counter",
	       "Jobs refused before any backend instance was chosen, by reason.");
	for (unsigned r = 0; r < HPCD_REJ__COUNT; r++)
		fprintf(f, "hpcd_jobs_rejected_total{reason=\"%s\"} %llu\n", reject_names[r],
			(unsigned long long)ld(&m->rejected[r]));
	family(f, "hpcd_trace_active", "gauge", "1 while a trace (hpcrun trace) is recording.");
	fprintf(f, "hpcd_trace_active %d\n", d->trace_active ? 1 : 0);

	family(f, "hpcd_backend_up", "gauge",
	       "1 for a backend instance the current config serves; 0 for one a reload removed "
	       "(its counters stay).");
	for (i = 0; i < ninst; i++) {
		fputs("hpcd_backend_up{", f);
		inst_labels(f, v[i]);
		fprintf(f, "} %d\n", up && up(up_ctx, v[i]->name, v[i]->plugin) ? 1 : 0);
	}
	family(f, "hpcd_backend_jobs_total", "counter",
	       "Jobs that reached a backend instance, by op, dtype and outcome.");
	for (i = 0; i < ninst; i++)
		for (unsigned op = 1; op < HPC_OP__COUNT; op++)
			for (unsigned dt = 0; dt < HPC_DTYPE__COUNT; dt++)
				for (unsigned o = 0; o < HPCD_OUT__COUNT; o++) {
					uint64_t n = ld(&v[i]->jobs[op][dt][o]);
					if (!n)
						continue;
					fputs("hpcd_backend_jobs_total{", f);
					inst_labels(f, v[i]);
					fprintf(f, ",op=\"%s\",dtype=\"%s\",outcome=\"%s\"} %llu\n",
						op_label(op), dtype_label(dt), outcome_names[o],
						(unsigned long long)n);
				}
	family(f, "hpcd_backend_job_duration_seconds", "histogram",
	       "Time from a job's start on a backend instance to its end (the completion's "
	       "t_end_ns - t_start_ns).");
	for (i = 0; i < ninst; i++)
		for (unsigned op = 1; op < HPC_OP__COUNT; op++) {
			if (!op_count(v[i], op))
				continue;
			uint64_t cum = 0;
			for (unsigned b = 0; b <= HPCD_METRICS_BUCKETS; b++) {
				cum += ld(&v[i]->dur_bucket[op][b]);
				fputs("hpcd_backend_job_duration_seconds_bucket{", f);
				inst_labels(f, v[i]);
				fprintf(f, ",op=\"%s\",le=\"%s\"} %llu\n", op_label(op),
					b < HPCD_METRICS_BUCKETS ? le_text[b] : "+Inf",
					(unsigned long long)cum);
			}
			fputs("hpcd_backend_job_duration_seconds_sum{", f);
			inst_labels(f, v[i]);
			fprintf(f, ",op=\"%s\"} %.9f\n", op_label(op),
				(double)ld(&v[i]->dur_sum_ns[op]) / 1e9);
			fputs("hpcd_backend_job_duration_seconds_count{", f);
			inst_labels(f, v[i]);
			fprintf(f, ",op=\"%s\"} %llu\n", op_label(op), (unsigned long long)cum);
		}
	family(f, "hpcd_backend_bytes_total", "counter",
	       "Operand bytes of the jobs a backend instance ran (each operand's extent from the "
	       "op table, once).");
	for (i = 0; i < ninst; i++)
		for (unsigned op = 1; op < HPC_OP__COUNT; op++) {
			if (!op_count(v[i], op))
				continue;
			fputs("hpcd_backend_bytes_total{", f);
			inst_labels(f, v[i]);
			fprintf(f, ",op=\"%s\"} %llu\n", op_label(op),
				(unsigned long long)ld(&v[i]->bytes[op]));
		}
	free(v);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	*len = blen;
	return 0;
}
