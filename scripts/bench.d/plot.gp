# SPDX-License-Identifier: GPL-2.0
#
# Latency and throughput per configuration, from report.py's plot.dat.
#   gnuplot -e "datafile='plot.dat'; outfile='bench.png'; subtitle='...'" plot.gp
# plot.dat columns: 1 config, 2 QD1 mean us, 3 QD1 p99 us, 4 QD32 IOPS,
# 5 randrw IOPS, 6 64 KiB MB/s, 7 1 MiB MB/s, 8 CPU us/IO at QD1,
# 9 CPU us/IO at QD32, 10 QD1 p50 us. The QD1 panel shows mean and median:
# p99 (in table.txt) is ten times larger under TCG and flattens them.

if (!exists("datafile")) datafile = 'plot.dat'
if (!exists("outfile")) outfile = 'bench.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1400,1000 font ",10"
set output outfile
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right opaque
set xtics rotate by -20 noenhanced
set yrange [0:*]

set multiplot layout 2,2 title "dualmirror vs. the alternatives, one VM boot (the local disk alone is in table.txt)\n".subtitle noenhanced

set title "4 KiB random write, QD1: latency (lower is better)"
set ylabel "microseconds"
plot datafile using 2:xtic(1) title "mean", '' using 10 title "p50"

set title "4 KiB random I/O: IOPS (higher is better)"
set ylabel "IOPS"
plot datafile using 4:xtic(1) title "randwrite QD32", '' using 5 title "70/30 randrw QD8"

set title "Sequential write: throughput (higher is better)"
set ylabel "MB/s"
plot datafile using 6:xtic(1) title "64 KiB QD8", '' using 7 title "1 MiB QD4"

set title "Guest CPU time per I/O (lower is better)"
set ylabel "microseconds of CPU per I/O"
plot datafile using 8:xtic(1) title "4 KiB randwrite QD1", '' using 9 title "4 KiB randwrite QD32"

unset multiplot
