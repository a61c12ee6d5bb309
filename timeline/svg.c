#include "timeline/svg.h"
#include "timeline/svgdoc.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Geometry, in SVG user units (pixels). */
#define W_TOTAL 1000.0
#define W_LABEL 170.0 /* row labels on the left */
#define W_RIGHT 20.0
#define H_TOP 56.0
#define H_ROW 30.0
#define H_BAR 22.0
#define H_AXIS 36.0
#define H_FOOT 22.0

struct row {
	uint32_t pid;
	uint16_t worker;
	uint64_t first_start;
	uint64_t busy_ns;
};

static int row_cmp(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	if (a->worker != b->worker)
		return a->worker < b->worker ? -1 : 1;
	if (a->first_start != b->first_start)
		return a->first_start < b->first_start ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* A fill per chunk index: the same chunk keeps its colour when it runs again. */
static void chunk_fill(uint32_t chunk, char *buf, size_t len)
{
	unsigned hue = (unsigned)((chunk * 137u) % 360u); /* golden-angle spread */
	snprintf(buf, len, "hsl(%u,55%%,%u%%)", hue, 62u + (chunk % 3u) * 6u);
}

int hpc_timeline_svg(FILE *f, const struct hpc_chunk_rec *recs, size_t n, const char *title)
{
	if (!f || (n && !recs))
		return -EINVAL;

	/* Rows: one per distinct (worker slot, pid). */
	struct row *rows = n ? calloc(n, sizeof(*rows)) : NULL;
	if (n && !rows)
		return -ENOMEM;
	size_t nrows = 0;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	for (size_t i = 0; i < n; i++) {
		const struct hpc_chunk_rec *r = &recs[i];
		uint64_t end = r->end_ns > r->start_ns ? r->end_ns : r->start_ns;
		if (r->start_ns < t0)
			t0 = r->start_ns;
		if (end > t1)
			t1 = end;
		size_t j = 0;
		while (j < nrows && !(rows[j].pid == r->pid && rows[j].worker == r->worker))
			j++;
		if (j == nrows)
			rows[nrows++] = (struct row){r->pid, r->worker, r->start_ns, 0};
		if (r->start_ns < rows[j].first_start)
			rows[j].first_start = r->start_ns;
		rows[j].busy_ns += end - r->start_ns;
	}
	if (nrows)
		qsort(rows, nrows, sizeof(*rows), row_cmp);
	if (!n)
		t0 = t1 = 0;
	const double span_ns = t1 > t0 ? (double)(t1 - t0) : 1.0;
	const double span_ms = span_ns / 1e6;
	const double plot_w = W_TOTAL - W_LABEL - W_RIGHT;
	const double height = H_TOP + (double)(nrows ? nrows : 1) * H_ROW + H_AXIS + H_FOOT;
	const double axis_y = H_TOP + (double)(nrows ? nrows : 1) * H_ROW;

	hpc_svgdoc_begin(f, W_TOTAL, height, title && *title ? title : "job timeline");
	fprintf(
	    f,
	    "<text x=\"10\" y=\"42\" fill=\"#444\">%zu chunk attempt%s on %zu worker process%s, "
	    "%.3f ms from the first start to the last end</text>\n",
	    n, n == 1 ? "" : "s", nrows, nrows == 1 ? "" : "es", n ? span_ms : 0.0);

	/* Row labels and bands. */
	for (size_t j = 0; j < nrows; j++) {
		double y = H_TOP + (double)j * H_ROW;
		fprintf(f,
			"<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"/>\n",
			W_LABEL, y, plot_w, H_ROW, j % 2 ? "#f4f4f4" : "#fafafa");
		fprintf(
		    f,
		    "<text class=\"row\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">worker %u, pid "
		    "%u</text>\n",
		    W_LABEL - 8, y + H_ROW / 2 + 4, (unsigned)rows[j].worker,
		    (unsigned)rows[j].pid);
	}
	if (!nrows)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888\">no chunks</text>\n",
			W_LABEL + 8, H_TOP + H_ROW / 2 + 4);

	/* Time axis. */
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
		W_LABEL, axis_y, W_LABEL + plot_w, axis_y);
	const double step = hpc_svgdoc_tick_step(span_ms);
	for (int t = 0; t <= 1000; t++) {
		double ms = t * step;
		if (ms > span_ms * 1.000001 && t > 0)
			break;
		double x = W_LABEL + (n ? ms / span_ms : 0.0) * plot_w;
		fprintf(
		    f,
		    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\" "
		    "stroke-dasharray=\"2,3\"/>\n"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
		    x, H_TOP, x, axis_y + 4, x, axis_y + 17, ms);
		if (!n)
			break;
	}
	fprintf(f,
		"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time since the first start "
		"(ms)</text>\n",
		W_LABEL + plot_w / 2, axis_y + 32);

	/* Chunks. */
	for (size_t i = 0; i < n; i++) {
		const struct hpc_chunk_rec *r = &recs[i];
		size_t j = 0;
		while (j < nrows && !(rows[j].pid == r->pid && rows[j].worker == r->worker))
			j++;
		uint64_t end = r->end_ns > r->start_ns ? r->end_ns : r->start_ns;
		double x = W_LABEL + (double)(r->start_ns - t0) / span_ns * plot_w;
		double w = (double)(end - r->start_ns) / span_ns * plot_w;
		if (w < 1.0)
			w = 1.0; /* visible however short */
		double y = H_TOP + (double)j * H_ROW + (H_ROW - H_BAR) / 2;
		const bool failed = r->flags & HPC_CHUNK_FAILED;
		char fill[40];
		chunk_fill(r->chunk, fill, sizeof(fill));
		fprintf(
		    f,
		    "<rect class=\"chunk%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
		    "fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\">"
		    "<title>chunk %u%s: %s %llu..%llu, worker %u pid %u, attempt %u, "
		    "%.3f..%.3f ms (%.3f ms)</title></rect>\n",
		    failed ? " failed" : "", x, y, w, H_BAR, failed ? "#e53935" : fill,
		    failed ? "#7f0000" : "#333", failed ? "2" : "0.5", (unsigned)r->chunk,
		    failed ? " FAILED" : "", "units", (unsigned long long)r->first,
		    (unsigned long long)(r->count ? r->first + r->count - 1 : r->first),
		    (unsigned)r->worker, (unsigned)r->pid, (unsigned)r->attempt,
		    (double)(r->start_ns - t0) / 1e6, (double)(end - t0) / 1e6,
		    (double)(end - r->start_ns) / 1e6);
		/* The index, when it fits (about 7 px per digit). */
		char label[24];
		int len =
		    snprintf(label, sizeof(label), "%s%u", failed ? "x" : "", (unsigned)r->chunk);
		if (w >= 7.0 * len + 4)
			fprintf(
			    f,
			    "<text class=\"label\" x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\" "
			    "font-size=\"11\" fill=\"%s\">%s</text>\n",
			    x + w / 2, y + H_BAR / 2 + 4, failed ? "white" : "black", label);
	}

	/* Busy time per worker. */
	fprintf(f, "<text x=\"10\" y=\"%.1f\" fill=\"#444\">busy:", height - 8);
	for (size_t j = 0; j < nrows; j++)
		fprintf(f, " pid %u %.3f ms (%.0f%%)%s", (unsigned)rows[j].pid,
			(double)rows[j].busy_ns / 1e6, 100.0 * (double)rows[j].busy_ns / span_ns,
			j + 1 < nrows ? ";" : "");
	if (!nrows)
		fputs(" none", f);
	fputs("</text>\n</svg>\n", f);
	free(rows);
	return ferror(f) ? -EIO : 0;
}

int hpc_timeline_svg_file(const char *path, const struct hpc_chunk_rec *recs, size_t n,
			  const char *title)
{
	if (!path)
		return -EINVAL;
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int rc = hpc_timeline_svg(f, recs, n, title);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}
