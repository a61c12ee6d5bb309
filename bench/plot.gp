# Plot of kernels_bench's CSV: time against size, log-log, one panel per op,
# one line per backend (through hpcd), the openmp kernel in-process, OpenBLAS
# and the memory limit (a STREAM read, or triad for axpy, of the same operands).
#   gnuplot -e "csv='kernels_bench.csv'; out='kernels_bench.svg'" bench/plot.gp
if (!exists("csv")) csv = "kernels_bench.csv"
if (!exists("out")) out = "kernels_bench.svg"

set terminal svg size 1500,900 dynamic enhanced font "sans,11" background rgb "white"
set output out
set datafile separator ","
set logscale xy
set format x "10^{%L}"
set format y "10^{%L}"
set autoscale xfix
set offsets graph 0.05, graph 0.05, 0, 0
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key top left box opaque font ",9"
set ylabel "median time (s)"

# The f64 rows of one op and one variant (columns: 1 op, 2 dtype, 3 size, 4-6 m n k,
# 7 impl, 9 median_s); for matmul the square shapes only.
sel(op, impl) = sprintf("< awk -F, '$1 == \"%s\" && $2 == \"f64\" && $7 == \"%s\" && ($1 != \"matmul\" || ($4 == $5 && $5 == $6))' '%s'", op, impl, csv)

impls(op) = op eq "matmul" ? "serial omp omp-inproc openblas" : "serial omp omp-inproc openblas limit"
label(i) = i eq "serial" ? "serial (hpcd)" : i eq "omp" ? "openmp (hpcd)" : \
	   i eq "omp-inproc" ? "openmp in-process" : i eq "openblas" ? "OpenBLAS" : "memory limit"
colour(i) = i eq "serial" ? 0x888888 : i eq "omp" ? 0xd62728 : i eq "omp-inproc" ? 0xff9896 : \
	    i eq "openblas" ? 0x1f77b4 : 0x2ca02c
dash(i) = i eq "limit" ? 2 : i eq "omp-inproc" ? 3 : 1
title_of(op) = op eq "matvec" ? "matvec y = A x (N x N)" : op eq "matmul" ? "matmul C = A B (N x N)" : \
	       op eq "dot" ? "dot x . y" : op eq "sum" ? "sum x (OpenBLAS: dasum)" : "axpy y = a x + y (limit: triad)"
xlab(op) = (op eq "matvec" || op eq "matmul") ? "N" : "n (elements)"

set multiplot layout 2,3 title "hpcd kernels: time against size (f64)"
do for [op in "matvec dot sum axpy matmul"] {
	set title title_of(op)
	set xlabel xlab(op)
	plot for [i in impls(op)] sel(op, i) using 3:9 with linespoints lw 2 pt 7 ps 0.6 \
		dt dash(i) lc rgb colour(i) title label(i)
}
unset multiplot
