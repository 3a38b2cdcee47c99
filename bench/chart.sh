#!/usr/bin/env bash
# bench/chart.sh: the chart of a bench run, from its raw samples.
#
#   bench/chart.sh RESULTS.tsv OUT.png [PATHS]      PATHS default: the paths found in the TSV
#
# One panel per CPU mode found in the TSV (1core, 2core): every table row, relative to (a) direct
# = 1 with higher = better (latencies and CPU costs are inverted: (a)/x), medians with min–max
# whiskers. The y axis stops at 4 so that one wild p99 does not flatten the rest.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tsv=${1:?usage: chart.sh RESULTS.tsv OUT.png [PATHS]}
png=${2:?usage: chart.sh RESULTS.tsv OUT.png [PATHS]}
paths=${3:-$(awk -F'\t' 'NR > 1 { seen[$4] = 1 } END {
	n = split("a b c d p", all, " "); for (i = 1; i <= n; i++) if (all[i] in seen) printf "%s ", all[i] }' "$tsv")}
read -r -a P <<<"$paths"
# (only the path tables' modes: the TSV also holds "track" and "agent" runs, which are no panel)
mapfile -t modes < <(awk -F'\t' 'NR > 1 && $1 ~ /^[0-9]+core$/ && !seen[$1]++ { print $1 }' "$tsv")
if [ "${#modes[@]}" -eq 0 ] || [ "${#P[@]}" -eq 0 ]; then
	echo "chart.sh: no samples in $tsv" >&2
	exit 1
fi
command -v gnuplot >/dev/null || { echo "chart.sh: gnuplot missing (bench/install-deps.sh)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/meshwarp-chart.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

declare -A name=([a]="(a) direct" [b]="(b) iptables" [c]="(c) meshwarp" [d]="(d) shortcut"
		 [p]="(p) sidecar explicit")
for mode in "${modes[@]}"; do
	awk -F'\t' -v mode="$mode" -v paths="${P[*]}" -v want=chart -f "$here/report.awk" "$tsv" \
		>"$tmp/$mode.dat" || exit 1
done
{
	echo "set terminal pngcairo size 1800,$((560 * ${#modes[@]})) font 'sans,10'"
	echo "set output '$png'"
	echo "set style data histogram"
	echo "set style histogram errorbars gap 2 lw 1"
	echo "set style fill solid 0.85 border -1"
	echo "set boxwidth 0.9"
	echo "set grid ytics"
	echo "set yrange [0:4]"
	echo "set ylabel 'relative to (a) direct = 1 (higher is better)'"
	echo "set xtics rotate by -25 scale 0"
	echo "set key outside right top"
	echo "set datafile separator tab"
	[ "${#modes[@]}" -gt 1 ] && echo "set multiplot layout ${#modes[@]},1"
	for mode in "${modes[@]}"; do
		case $mode in
		1core) echo "set title 'meshwarp bench: one core (CPU 0), medians with min-max (axis cut at 4)'" ;;
		2core) echo "set title 'two cores (CPUs 0-1), medians with min-max (axis cut at 4)'" ;;
		*) echo "set title '$mode'" ;;
		esac
		printf 'plot '
		i=0
		for m in "${P[@]}"; do
			col=$((2 + 3 * i))
			lt=$(($(printf '%d' "'$m") - 96))
			[ "$i" -gt 0 ] && printf ', '
			printf "'%s' using %d:%d:%d%s title '%s' lt %d" "$tmp/$mode.dat" "$col" \
				$((col + 1)) $((col + 2)) "$([ "$i" -eq 0 ] && echo ':xtic(1)')" \
				"${name[$m]}" "$lt"
			i=$((i + 1))
		done
		echo
	done
	[ "${#modes[@]}" -gt 1 ] && echo "unset multiplot"
} >"$tmp/chart.gp"
if ! gnuplot "$tmp/chart.gp" >"$tmp/gnuplot.log" 2>&1 || [ ! -s "$png" ]; then
	echo "chart.sh: gnuplot failed: $(tail -n 3 "$tmp/gnuplot.log" | tr '\n' ' ')" >&2
	exit 1
fi
