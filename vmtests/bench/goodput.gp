# Goodput chart of the benchmark suite: gnuplot -e "data='...'; out='...'" goodput.gp
set terminal pngcairo size 1100,500 noenhanced
set output out
set title "Goodput, % of the sum of the link rates (median)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set yrange [0:110]
set ylabel "% of sum of link rates"
set xlabel "scenario and direction"
set grid ytics
set key top right
plot data using 2:xtic(1) title "best single uplink", '' using 3 title "meshbpf bond", '' using 4 title "MPTCP"
