#include "timeline/svgdoc.h"

#include <math.h>

void hpc_svgdoc_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
		}
	}
}

void hpc_svgdoc_begin(FILE *f, double width, double height, const char *title)
{
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
		width, height, width, height, width, height);
	fputs("<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">", f);
	hpc_svgdoc_text(f, title);
	fputs("</text>\n", f);
}

double hpc_svgdoc_tick_step(double span_ms)
{
	double raw = span_ms / 8.0;
	if (!(raw > 0))
		return 1.0;
	double p = pow(10.0, floor(log10(raw)));
	double m = raw / p;
	return (m <= 1.0 ? 1.0 : m <= 2.0 ? 2.0 : m <= 5.0 ? 5.0 : 10.0) * p;
}
