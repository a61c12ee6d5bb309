#include "timeline/trace.h"
#include "timeline/svgdoc.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpc/ops.h"

#define NONE UINT32_MAX
/* JSON thread ids: worker slots from 1, client connections above this. */
#define CLIENT_TID_BASE 100000ull

/* ---- Tracks: shared by both writers ------------------------------------------ */

struct tproc {
	const char *backend, *plugin; /* point into the trace's records */
};

struct ttrack {
	uint32_t proc;
	bool worker;        /* a worker slot's track, else a client connection's */
	uint32_t slot;      /* worker slot */
	uint64_t client_id; /* client connection */
	uint32_t client_pid;
};

struct layout {
	struct tproc *procs;
	size_t nprocs;
	struct ttrack *tracks;
	size_t ntracks;
	uint32_t *job_proc;    /* per job */
	uint32_t *job_track;   /* per job: its client track, or NONE */
	uint32_t *chunk_track; /* per chunk record: its worker track, or NONE (not referenced) */
};

static void layout_free(struct layout *l)
{
	free(l->procs);
	free(l->tracks);
	free(l->job_proc);
	free(l->job_track);
	free(l->chunk_track);
}

static uint32_t proc_of(struct layout *l, const struct hpc_trace_rec *r)
{
	for (size_t i = l->nprocs; i-- > 0;)
		if (!strcmp(l->procs[i].backend, r->backend) &&
		    !strcmp(l->procs[i].plugin, r->plugin))
			return (uint32_t)i;
	l->procs[l->nprocs] = (struct tproc){r->backend, r->plugin};
	return (uint32_t)l->nprocs++;
}

static uint32_t track_of(struct layout *l, size_t cap, const struct ttrack *want)
{
	for (size_t i = l->ntracks; i-- > 0;) {
		const struct ttrack *t = &l->tracks[i];
		if (t->proc == want->proc && t->worker == want->worker &&
		    (want->worker ? t->slot == want->slot : t->client_id == want->client_id))
			return (uint32_t)i;
	}
	if (l->ntracks == cap)
		return NONE; /* cannot happen: cap counts every record */
	l->tracks[l->ntracks] = *want;
	return (uint32_t)l->ntracks++;
}

static const struct ttrack *sort_base;
static int track_cmp(const void *pa, const void *pb)
{
	const struct ttrack *a = &sort_base[*(const uint32_t *)pa],
			    *b = &sort_base[*(const uint32_t *)pb];
	if (a->proc != b->proc)
		return a->proc < b->proc ? -1 : 1;
	if (a->worker != b->worker)
		return a->worker ? -1 : 1; /* workers first */
	uint64_t ka = a->worker ? a->slot : a->client_id, kb = b->worker ? b->slot : b->client_id;
	return ka < kb ? -1 : ka > kb;
}

/*
 * Assign processes and tracks. client_for_all: every job gets its client
 * track (JSON); else only jobs without chunk records (SVG: rows are workers).
 */
static int layout_build(const struct hpc_trace *tr, bool client_for_all, struct layout *l)
{
	memset(l, 0, sizeof(*l));
	size_t nj = (size_t)tr->hdr.njobs, nc = (size_t)tr->hdr.nchunks;
	size_t cap = nj + nc + 1;
	l->procs = calloc(nj + 1, sizeof(*l->procs));
	l->tracks = calloc(cap, sizeof(*l->tracks));
	l->job_proc = calloc(nj + 1, sizeof(*l->job_proc));
	l->job_track = calloc(nj + 1, sizeof(*l->job_track));
	l->chunk_track = calloc(nc + 1, sizeof(*l->chunk_track));
	if (!l->procs || !l->tracks || !l->job_proc || !l->job_track || !l->chunk_track) {
		layout_free(l);
		return -ENOMEM;
	}
	for (size_t c = 0; c < nc; c++)
		l->chunk_track[c] = NONE;
	for (size_t i = 0; i < nj; i++) {
		const struct hpc_trace_rec *r = &tr->jobs[i];
		uint32_t p = proc_of(l, r);
		l->job_proc[i] = p;
		l->job_track[i] = NONE;
		if (client_for_all || r->chunk_count == 0) {
			struct ttrack t = {
			    .proc = p, .client_id = r->client_id, .client_pid = r->client_pid};
			l->job_track[i] = track_of(l, cap, &t);
		}
		for (uint32_t c = r->chunk_first; c < r->chunk_first + r->chunk_count; c++) {
			struct ttrack t = {.proc = p, .worker = true, .slot = tr->chunks[c].worker};
			l->chunk_track[c] = track_of(l, cap, &t);
		}
	}
	/* Sort the tracks (by process, workers by slot, then clients) and renumber. */
	uint32_t *perm = malloc((l->ntracks + 1) * sizeof(*perm));
	uint32_t *inv = malloc((l->ntracks + 1) * sizeof(*inv));
	struct ttrack *sorted = malloc((l->ntracks + 1) * sizeof(*sorted));
	if (!perm || !inv || !sorted) {
		free(perm);
		free(inv);
		free(sorted);
		layout_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->ntracks; i++)
		perm[i] = (uint32_t)i;
	sort_base = l->tracks;
	qsort(perm, l->ntracks, sizeof(*perm), track_cmp);
	for (size_t i = 0; i < l->ntracks; i++) {
		inv[perm[i]] = (uint32_t)i;
		sorted[i] = l->tracks[perm[i]];
	}
	for (size_t i = 0; i < nj; i++)
		if (l->job_track[i] != NONE)
			l->job_track[i] = inv[l->job_track[i]];
	for (size_t c = 0; c < nc; c++)
		if (l->chunk_track[c] != NONE)
			l->chunk_track[c] = inv[l->chunk_track[c]];
	free(l->tracks);
	l->tracks = sorted;
	free(perm);
	free(inv);
	return 0;
}

static void op_label(const struct hpc_trace_rec *r, char *buf, size_t len)
{
	const char *op = hpc_op_name(r->op);
	if (op)
		snprintf(buf, len, "%s", op);
	else
		snprintf(buf, len, "op %u", (unsigned)r->op);
}

static double rel_us(uint64_t ns, uint64_t t0)
{
	return (double)(int64_t)(ns - t0) / 1e3;
}

/* ---- JSON ----------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x",
				ch); /* names are ASCII; anything else is shown, not trusted */
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Comma before every event but the first. */
static void sep(FILE *f, bool *first)
{
	fputs(*first ? "\n" : ",\n", f);
	*first = false;
}

static void proc_name(const struct tproc *p, char *buf, size_t len)
{
	if (*p->plugin)
		snprintf(buf, len, "backend %s (%s)", p->backend, p->plugin);
	else if (*p->backend)
		snprintf(buf, len, "refused before any backend ran them (asked for '%s')",
			 p->backend);
	else
		snprintf(buf, len, "refused before any backend ran them (asked for the default)");
}

static uint64_t tid_of(const struct ttrack *t)
{
	return t->worker ? 1ull + t->slot : CLIENT_TID_BASE + t->client_id;
}

int hpc_trace_write_json(FILE *f, const struct hpc_trace *tr)
{
	struct layout l;
	int rc = layout_build(tr, true, &l);
	if (rc < 0)
		return rc;
	const struct hpc_trace_hdr *h = &tr->hdr;
	const uint64_t t0 = h->t_start_ns;
	bool first = true;
	char name[128];

	fprintf(f,
		"{\"displayTimeUnit\":\"ms\",\"otherData\":{\"source\":\"hpcd trace\","
		"\"t_start_ns\":%llu,\"t_stop_ns\":%llu,\"jobs\":%llu,\"chunks\":%llu,"
		"\"jobs_dropped\":%llu,\"chunks_dropped\":%llu},\n\"traceEvents\":[",
		(unsigned long long)h->t_start_ns, (unsigned long long)h->t_stop_ns,
		(unsigned long long)h->njobs, (unsigned long long)h->nchunks,
		(unsigned long long)h->jobs_dropped, (unsigned long long)h->chunks_dropped);

	/* Names: a process per backend instance, a thread per worker track. */
	for (size_t p = 0; p < l.nprocs; p++) {
		proc_name(&l.procs[p], name, sizeof(name));
		sep(f, &first);
		fprintf(f,
			"{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%zu,\"tid\":0,\"args\":{"
			"\"name\":",
			p + 1);
		json_str(f, name);
		fputs("}}", f);
		sep(f, &first);
		fprintf(f,
			"{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":%zu,\"tid\":0,"
			"\"args\":{\"sort_index\":%zu}}",
			p + 1, p + 1);
	}
	for (size_t i = 0; i < l.ntracks; i++) {
		const struct ttrack *t = &l.tracks[i];
		if (t->worker)
			snprintf(name, sizeof(name), "worker %u", (unsigned)t->slot);
		else
			snprintf(name, sizeof(name), "client pid %u (connection %llu)",
				 (unsigned)t->client_pid, (unsigned long long)t->client_id);
		sep(f, &first);
		fprintf(f,
			"{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%u,\"tid\":%llu,\"args\":{"
			"\"name\":",
			t->proc + 1, (unsigned long long)tid_of(t));
		json_str(f, name);
		fputs("}}", f);
		sep(f, &first);
		fprintf(f,
			"{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%u,\"tid\":%llu,"
			"\"args\":{\"sort_index\":%zu}}",
			t->proc + 1, (unsigned long long)tid_of(t), i);
	}

	for (size_t i = 0; i < (size_t)h->njobs; i++) {
		const struct hpc_trace_rec *r = &tr->jobs[i];
		const struct ttrack *ct = &l.tracks[l.job_track[i]];
		uint64_t end = r->end_ns > r->start_ns ? r->end_ns : r->start_ns;
		op_label(r, name, sizeof(name));
		const char *dt = hpc_dtype_name(r->dtype);
		sep(f, &first);
		fputs("{\"ph\":\"X\",\"cat\":\"job\",\"name\":", f);
		json_str(f, name);
		fprintf(f,
			",\"pid\":%u,\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"job\":%zu,"
			"\"client_pid\":%u,\"client\":%llu,\"backend\":",
			ct->proc + 1, (unsigned long long)tid_of(ct), rel_us(r->start_ns, t0),
			(double)(end - r->start_ns) / 1e3, i, (unsigned)r->client_pid,
			(unsigned long long)r->client_id);
		json_str(f, r->backend);
		fputs(",\"plugin\":", f);
		json_str(f, r->plugin);
		fprintf(f, ",\"op\":");
		json_str(f, name);
		fprintf(f, ",\"dtype\":\"%s\",\"m\":%llu,\"n\":%llu,\"k\":%llu,\"status\":%d",
			dt ? dt : "?", (unsigned long long)r->m, (unsigned long long)r->n,
			(unsigned long long)r->k, (int)r->status);
		if (r->status) {
			fprintf(f, ",\"detail\":%u,\"error\":", (unsigned)r->detail);
			json_str(f, strerror(-r->status));
		}
		fprintf(f, ",\"chunks\":%u,\"chunks_made\":%u,\"chunks_lost\":%s}}",
			(unsigned)r->chunk_count, (unsigned)r->chunks_made,
			r->flags & HPC_TRACE_CHUNKS_LOST ? "true" : "false");

		/* Per worker that ran part of it: a slice over its part, its chunks inside. */
		uint32_t c0 = r->chunk_first, c1 = r->chunk_first + r->chunk_count;
		for (uint32_t c = c0; c < c1; c++) {
			uint32_t tk = l.chunk_track[c];
			bool seen = false;
			for (uint32_t e = c0; e < c && !seen; e++)
				seen = l.chunk_track[e] == tk;
			if (seen)
				continue;
			uint64_t lo = UINT64_MAX, hi = 0;
			for (uint32_t e = c; e < c1; e++) {
				const struct hpc_chunk_rec *k = &tr->chunks[e];
				if (l.chunk_track[e] != tk)
					continue;
				uint64_t ke = k->end_ns > k->start_ns ? k->end_ns : k->start_ns;
				lo = k->start_ns < lo ? k->start_ns : lo;
				hi = ke > hi ? ke : hi;
			}
			const struct ttrack *wt = &l.tracks[tk];
			sep(f, &first);
			fputs("{\"ph\":\"X\",\"cat\":\"job_part\",\"name\":", f);
			json_str(f, name);
			fprintf(f,
				",\"pid\":%u,\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"args\":{"
				"\"job\":%zu,"
				"\"client_pid\":%u}}",
				wt->proc + 1, (unsigned long long)tid_of(wt), rel_us(lo, t0),
				(double)(hi - lo) / 1e3, i, (unsigned)r->client_pid);
			for (uint32_t e = c; e < c1; e++) {
				const struct hpc_chunk_rec *k = &tr->chunks[e];
				if (l.chunk_track[e] != tk)
					continue;
				uint64_t ke = k->end_ns > k->start_ns ? k->end_ns : k->start_ns;
				bool failed = k->flags & HPC_CHUNK_FAILED;
				sep(f, &first);
				fprintf(
				    f,
				    "{\"ph\":\"X\",\"cat\":\"chunk\",\"name\":\"chunk "
				    "%u%s\",\"pid\":%u,"
				    "\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"job\":%zu,"
				    "\"chunk\":%u,\"first\":%llu,\"count\":%llu,\"attempt\":%u,"
				    "\"worker_pid\":%u,\"failed\":%s}}",
				    (unsigned)k->chunk, failed ? " (failed)" : "", wt->proc + 1,
				    (unsigned long long)tid_of(wt), rel_us(k->start_ns, t0),
				    (double)(ke - k->start_ns) / 1e3, i, (unsigned)k->chunk,
				    (unsigned long long)k->first, (unsigned long long)k->count,
				    (unsigned)k->attempt, (unsigned)k->pid,
				    failed ? "true" : "false");
			}
		}
	}
	fputs("\n]}\n", f);
	layout_free(&l);
	return ferror(f) ? -EIO : 0;
}

/* ---- SVG ------------------------------------------------------------------------- */

/* Geometry, in SVG user units (pixels): as timeline/svg.c. */
#define W_TOTAL 1000.0
#define W_LABEL 230.0
#define W_RIGHT 20.0
#define H_TOP 56.0
#define H_ROW 30.0
#define H_BAR 22.0
#define H_AXIS 36.0
#define H_FOOT 8.0

static void bar(FILE *f, const char *cls, double x, double y, double w, const char *fill,
		const char *tip)
{
	fprintf(
	    f,
	    "<rect class=\"%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" "
	    "stroke=\"#333\" stroke-width=\"0.5\"><title>",
	    cls, x, y, w < 1.0 ? 1.0 : w, H_BAR, fill);
	hpc_svgdoc_text(f, tip);
	fputs("</title></rect>\n", f);
}

int hpc_trace_write_svg(FILE *f, const struct hpc_trace *tr, const char *title)
{
	struct layout l;
	int rc = layout_build(tr, false, &l);
	if (rc < 0)
		return rc;
	const struct hpc_trace_hdr *h = &tr->hdr;
	/* The axis spans the jobs, not the whole window: tiny jobs in a long
	 * trace would be slivers. Its labels still count from the trace's start. */
	uint64_t t0 = UINT64_MAX, t1 = 0;
	for (size_t i = 0; i < (size_t)h->njobs; i++) {
		t0 = tr->jobs[i].start_ns < t0 ? tr->jobs[i].start_ns : t0;
		t1 = tr->jobs[i].end_ns > t1 ? tr->jobs[i].end_ns : t1;
	}
	for (size_t c = 0; c < (size_t)h->nchunks; c++)
		if (l.chunk_track[c] != NONE) {
			t0 = tr->chunks[c].start_ns < t0 ? tr->chunks[c].start_ns : t0;
			t1 = tr->chunks[c].end_ns > t1 ? tr->chunks[c].end_ns : t1;
		}
	if (t0 == UINT64_MAX || t0 < h->t_start_ns) {
		t0 = h->t_start_ns;
		t1 = h->t_stop_ns > t1 ? h->t_stop_ns : t1;
	}
	if (t1 <= t0)
		t1 = t0 + 1000;
	const uint64_t pad = (t1 - t0) / 50; /* 2 % each side, so edges stay visible */
	t0 = t0 - h->t_start_ns >= pad ? t0 - pad : h->t_start_ns;
	t1 += pad;
	const double span_ns = (double)(t1 - t0);
	const double span_ms = span_ns / 1e6;
	const double off_ms = (double)(t0 - h->t_start_ns) / 1e6;
	const double plot_w = W_TOTAL - W_LABEL - W_RIGHT;
	const size_t nrows = l.ntracks ? l.ntracks : 1;
	const double axis_y = H_TOP + (double)nrows * H_ROW;
	const double height = axis_y + H_AXIS + H_FOOT;
#define X_OF(ns) (W_LABEL + (double)(int64_t)((ns)-t0) / span_ns * plot_w)

	hpc_svgdoc_begin(f, W_TOTAL, height, title && *title ? title : "hpcd trace");
	fprintf(f,
		"<text x=\"10\" y=\"42\" fill=\"#444\">%llu job%s on %zu backend%s, %llu chunk "
		"record%s in a trace of %.3f ms; %llu jobs and %llu chunk records dropped</text>\n",
		(unsigned long long)h->njobs, h->njobs == 1 ? "" : "s", l.nprocs,
		l.nprocs == 1 ? "" : "s", (unsigned long long)h->nchunks,
		h->nchunks == 1 ? "" : "s", (double)(h->t_stop_ns - h->t_start_ns) / 1e6,
		(unsigned long long)h->jobs_dropped, (unsigned long long)h->chunks_dropped);

	char label[160], pname[128];
	for (size_t j = 0; j < l.ntracks; j++) {
		const struct ttrack *t = &l.tracks[j];
		double y = H_TOP + (double)j * H_ROW;
		bool first_of_proc = j == 0 || l.tracks[j - 1].proc != t->proc;
		fprintf(f,
			"<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"/>\n",
			W_LABEL, y, plot_w, H_ROW, t->proc % 2 ? "#f0f3f8" : "#fafafa");
		if (first_of_proc && j)
			fprintf(f,
				"<line x1=\"0\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
				"stroke=\"#999\"/>\n",
				y, W_TOTAL, y);
		proc_name(&l.procs[t->proc], pname, sizeof(pname));
		if (t->worker)
			snprintf(label, sizeof(label), "%s: worker %u",
				 *l.procs[t->proc].plugin ? l.procs[t->proc].backend : pname,
				 (unsigned)t->slot);
		else
			snprintf(label, sizeof(label), "%s: client pid %u",
				 *l.procs[t->proc].plugin ? l.procs[t->proc].backend : "refused",
				 (unsigned)t->client_pid);
		fprintf(f, "<text class=\"row\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"><title>",
			W_LABEL - 8, y + H_ROW / 2 + 4);
		hpc_svgdoc_text(f, pname);
		fputs("</title>", f);
		hpc_svgdoc_text(f, label);
		fputs("</text>\n", f);
	}
	if (!l.ntracks)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888\">no jobs</text>\n",
			W_LABEL + 8, H_TOP + H_ROW / 2 + 4);

	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
		W_LABEL, axis_y, W_LABEL + plot_w, axis_y);
	const double step = hpc_svgdoc_tick_step(span_ms);
	const double first_tick = ceil(off_ms / step) * step;
	for (int k = 0; k <= 1000; k++) {
		double ms = first_tick + k * step; /* since the trace's start */
		if (ms - off_ms > span_ms * 1.000001)
			break;
		double x = W_LABEL + (ms - off_ms) / span_ms * plot_w;
		fprintf(
		    f,
		    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\" "
		    "stroke-dasharray=\"2,3\"/>\n"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
		    x, H_TOP, x, axis_y + 4, x, axis_y + 17, ms);
	}
	fprintf(f,
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time since the trace started "
		"(ms)</text>\n",
		W_LABEL + plot_w / 2, axis_y + 32);

	char tip[256], fill[40], opn[32];
	for (size_t i = 0; i < (size_t)h->njobs; i++) {
		const struct hpc_trace_rec *r = &tr->jobs[i];
		op_label(r, opn, sizeof(opn));
		/* A job keeps one colour on every worker that ran part of it. */
		snprintf(fill, sizeof(fill), "hsl(%u,55%%,%u%%)", (unsigned)((i * 137u) % 360u),
			 62u + (unsigned)(i % 3u) * 6u);
		if (l.job_track[i] != NONE) {
			uint64_t end = r->end_ns > r->start_ns ? r->end_ns : r->start_ns;
			snprintf(tip, sizeof(tip),
				 "job %zu: %s %s m=%llu n=%llu k=%llu from client pid %u: "
				 "%.3f ms%s%s",
				 i, opn, hpc_dtype_name(r->dtype) ? hpc_dtype_name(r->dtype) : "?",
				 (unsigned long long)r->m, (unsigned long long)r->n,
				 (unsigned long long)r->k, (unsigned)r->client_pid,
				 (double)(end - r->start_ns) / 1e6, r->status ? ", failed: " : "",
				 r->status ? strerror(-r->status) : "");
			double y = H_TOP + (double)l.job_track[i] * H_ROW + (H_ROW - H_BAR) / 2;
			bar(f, r->status ? "job failed" : "job", X_OF(r->start_ns), y,
			    (double)(end - r->start_ns) / span_ns * plot_w,
			    r->status ? "#e53935" : fill, tip);
		}
		for (uint32_t c = r->chunk_first; c < r->chunk_first + r->chunk_count; c++) {
			const struct hpc_chunk_rec *k = &tr->chunks[c];
			uint64_t ke = k->end_ns > k->start_ns ? k->end_ns : k->start_ns;
			bool failed = k->flags & HPC_CHUNK_FAILED;
			snprintf(
			    tip, sizeof(tip),
			    "job %zu (%s from client pid %u), chunk %u%s: units "
			    "%llu..%llu, worker %u pid %u, attempt %u, %.3f ms",
			    i, opn, (unsigned)r->client_pid, (unsigned)k->chunk,
			    failed ? " FAILED" : "", (unsigned long long)k->first,
			    (unsigned long long)(k->count ? k->first + k->count - 1 : k->first),
			    (unsigned)k->worker, (unsigned)k->pid, (unsigned)k->attempt,
			    (double)(ke - k->start_ns) / 1e6);
			double y = H_TOP + (double)l.chunk_track[c] * H_ROW + (H_ROW - H_BAR) / 2;
			bar(f, failed ? "chunk failed" : "chunk", X_OF(k->start_ns), y,
			    (double)(ke - k->start_ns) / span_ns * plot_w,
			    failed ? "#e53935" : fill, tip);
		}
	}
#undef X_OF
	fputs("</svg>\n", f);
	layout_free(&l);
	return ferror(f) ? -EIO : 0;
}

int hpc_trace_write_file(const char *path, const struct hpc_trace *tr)
{
	size_t n = path ? strlen(path) : 0;
	bool json = n >= 5 && strcmp(path + n - 5, ".json") == 0;
	bool svg = n >= 4 && strcmp(path + n - 4, ".svg") == 0;
	if (!json && !svg)
		return -EINVAL;
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int rc = json ? hpc_trace_write_json(f, tr) : hpc_trace_write_svg(f, tr, NULL);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}
