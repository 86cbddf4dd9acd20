# Goodput per second of scenario 10 (a link's rate falls and comes back):
# gnuplot -e "data='...'; out='...'" rate_step.gp
set terminal pngcairo size 1100,500 noenhanced
set output out
set title "Download goodput per second while link 2 falls from 20 to 5 Mbit/s and comes back (median of the runs)"
set xlabel "second of the transfer (each point: the second ending there)"
set ylabel "Mbit/s"
set yrange [0:*]
set grid
set key below horizontal
plot data using 1:2 with linespoints title "best single uplink", \
     '' using 1:3 with linespoints title "meshbpf bond", \
     '' using 1:4 with linespoints title "MPTCP", \
     '' using 1:5 with fsteps dashtype 2 linecolor rgb "gray40" title "sum of the link rates"
