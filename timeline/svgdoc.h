/*
 * timeline/svgdoc.h - what the two SVG pictures (a job's chunks, svg.c; a
 * daemon trace, trace.c) draw alike: the document's head and title, escaped
 * text, and the time axis's tick step. Private to timeline/.
 */
#ifndef HPC_TIMELINE_SVGDOC_H
#define HPC_TIMELINE_SVGDOC_H

#include <stdio.h>

/* Text with XML's five special characters escaped; control characters as spaces. */
void hpc_svgdoc_text(FILE *f, const char *s);

/* The XML declaration, the <svg> element of width x height, a white page and the bold title. */
void hpc_svgdoc_begin(FILE *f, double width, double height, const char *title);

/* A tick step of 1, 2 or 5 times a power of ten giving about 8 ticks over span_ms. */
double hpc_svgdoc_tick_step(double span_ms);

#endif /* HPC_TIMELINE_SVGDOC_H */
