# bench/report.awk: turns bench/run.sh's raw samples (TSV: mode round workload path metric value)
# into the Markdown tables of one CPU mode, or (want=chart) into gnuplot's data for it.
#   awk -F'\t' -v mode=1core -v paths="a b c p" [-v title=...] [-v dnote=...] [-v want=chart]
# Portable awk (Debian's default is mawk: no asort).

function fmt(v, unit) {
	if (v == "") return "—"
	if (unit == "Gbit/s") return sprintf("%.2f", v)
	if ((unit == "µs" || unit == "µs CPU") && v < 100) return sprintf("%.1f", v)
	return sprintf("%.0f", v)
}

# Sorts s[1..n] numerically (insertion sort: a handful of rounds).
function isort(s, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = s[i]
		for (j = i - 1; j >= 1 && s[j] > t; j--) s[j + 1] = s[j]
		s[j + 1] = t
	}
}

# Sets MED, MIN, MAX, CNT for key k ("workload SUBSEP metric SUBSEP path"); 0 when no sample.
function stats(k,    n, i, s, parts) {
	MED = MIN = MAX = ""
	CNT = 0
	if (!(k in vals)) return 0
	n = split(vals[k], parts, " ")
	for (i = 1; i <= n; i++) s[i] = parts[i] + 0
	isort(s, n)
	MIN = s[1]; MAX = s[n]; CNT = n
	MED = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
	return 1
}

function ratio(x, y) {
	return (x == "" || y == "" || y == 0) ? "" : x / y
}

function rfmt(r) {
	return r == "" ? "—" : sprintf("%.2f×", r)
}

function row(w, m, label, unit, dir) {
	nrows++
	RW[nrows] = w; RM[nrows] = m; RL[nrows] = label; RU[nrows] = unit; RD[nrows] = dir
}

# Sets PMED, PMIN, PMAX, PCNT: the per-round ratio x/y of row r (paired within a round, so
# load that drifts between rounds cancels); 0 when no round has both.
function paired(r, x, y,    k, n, i, s, parts, vx, vy) {
	PMED = PMIN = PMAX = ""
	PCNT = 0
	n = 0
	for (k in rounds) {
		vx = RW[r] SUBSEP RM[r] SUBSEP x SUBSEP k
		vy = RW[r] SUBSEP RM[r] SUBSEP y SUBSEP k
		if (!(vx in byround) || !(vy in byround) || byround[vy] == 0) continue
		s[++n] = byround[vx] / byround[vy]
	}
	if (!n) return 0
	isort(s, n)
	PMIN = s[1]; PMAX = s[n]; PCNT = n
	PMED = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
	return 1
}

BEGIN {
	row("http_ka", "rps", "keep-alive HTTP, many conns", "req/s", "up")
	row("http_ka", "p50_us", "keep-alive HTTP, many conns, p50", "µs", "down")
	row("http_ka", "p99_us", "keep-alive HTTP, many conns, p99", "µs", "down")
	row("http_1c", "rps", "keep-alive HTTP, 1 conn", "req/s", "up")
	row("http_1c", "p50_us", "keep-alive HTTP, 1 conn, p50", "µs", "down")
	row("http_1c", "p99_us", "keep-alive HTTP, 1 conn, p99", "µs", "down")
	row("connrate", "cps", "new connection per request", "conn/s", "up")
	row("connrate", "p99_us", "new connection per request, p99", "µs", "down")
	row("pingpong", "p50_us", "TCP ping-pong RTT, p50", "µs", "down")
	row("pingpong", "p99_us", "TCP ping-pong RTT, p99", "µs", "down")
	row("bulk_large", "gbps", "bulk stream, 128 KiB writes", "Gbit/s", "up")
	row("bulk_1k", "gbps", "bulk stream, 1 KiB writes", "Gbit/s", "up")
	ncore = nrows
	# CPU time of all the path's processes per operation (the test cgroup's cpu.stat)
	row("http_ka", "cpu_op", "CPU per request, many conns", "µs CPU", "down")
	row("http_1c", "cpu_op", "CPU per request, 1 conn", "µs CPU", "down")
	row("connrate", "cpu_op", "CPU per new connection", "µs CPU", "down")
	row("pingpong", "cpu_op", "CPU per ping-pong round trip", "µs CPU", "down")
	row("bulk_large", "cpu_op", "CPU per MiB, 128 KiB writes", "µs CPU", "down")
	row("bulk_1k", "cpu_op", "CPU per MiB, 1 KiB writes", "µs CPU", "down")
	np = split(paths, P, " ")
	name["a"] = "(a) direct"; name["b"] = "(b) iptables"; name["c"] = "(c) meshwarp"
	name["d"] = "(d) shortcut"; name["p"] = "(p) sidecar explicit"
	short["rps"] = "req/s"; short["p50_us"] = "p50"; short["p99_us"] = "p99"
	short["cps"] = "conn/s"; short["gbps"] = "Gbit/s"; short["cpu_op"] = "CPU/op"
	wshort["http_ka"] = "HTTP many"; wshort["http_1c"] = "HTTP 1 conn"
	wshort["connrate"] = "new conn"; wshort["pingpong"] = "ping-pong"
	wshort["bulk_large"] = "bulk 128K"; wshort["bulk_1k"] = "bulk 1K"
}

NR > 1 && $1 == mode {
	k = $3 SUBSEP $5 SUBSEP $4
	vals[k] = (k in vals) ? vals[k] " " $6 : $6
	byround[k SUBSEP $2] = $6
	rounds[$2] = 1
}

END {
	if (want == "chart") {
		for (r = 1; r <= nrows; r++) {
			if (!stats(RW[r] SUBSEP RM[r] SUBSEP "a")) continue
			base = MED
			line = wshort[RW[r]] " " short[RM[r]]
			for (i = 1; i <= np; i++) {
				if (!stats(RW[r] SUBSEP RM[r] SUBSEP P[i]) || base == 0 || MIN == 0) {
					line = line "\t0\t0\t0"
				} else if (RD[r] == "up") {
					line = line sprintf("\t%.4f\t%.4f\t%.4f", MED / base, MIN / base, MAX / base)
				} else {	# latency: (a)/x, so that higher is better; whiskers swap
					line = line sprintf("\t%.4f\t%.4f\t%.4f", base / MED, base / MAX, base / MIN)
				}
			}
			print line
		}
		exit 0
	}

	hasd = 0
	for (i = 1; i <= np; i++) if (P[i] == "d") hasd = 1
	all = "a b c d p"
	na = split(all, A, " ")

	print "## " title
	print ""
	hdr = "| workload | unit |"
	sep = "|---|---|"
	for (i = 1; i <= na; i++) { hdr = hdr " " name[A[i]] " |"; sep = sep "---|" }
	print hdr
	print sep
	for (r = 1; r <= nrows; r++) {
		line = "| " RL[r] " | " RU[r] " " (RD[r] == "up" ? "↑" : "↓") " |"
		for (i = 1; i <= na; i++) {
			if (A[i] == "d" && !hasd) { line = line " not available |"; continue }
			if (stats(RW[r] SUBSEP RM[r] SUBSEP A[i]))
				line = line " " fmt(MED, RU[r]) " [" fmt(MIN, RU[r]) "–" fmt(MAX, RU[r]) "] |"
			else
				line = line " no number |"
			med[r, A[i]] = MED; mn[r, A[i]] = MIN; mx[r, A[i]] = MAX
		}
		print line
	}
	print ""
	if (dnote != "") { print dnote; print "" }

	# Ratios of medians, against (a) and against (b), and (c) against (p).
	hdr = "| workload | unit |"
	sep = "|---|---|"
	nc = 0
	for (i = 1; i <= np; i++) if (P[i] != "a") { nc++; CX[nc] = P[i]; CY[nc] = "a" }
	for (i = 1; i <= np; i++) if (P[i] != "a" && P[i] != "b") { nc++; CX[nc] = P[i]; CY[nc] = "b" }
	for (i = 1; i <= np; i++) if (P[i] == "c" || P[i] == "d") { nc++; CX[nc] = P[i]; CY[nc] = "p" }
	# the shortcut on versus off: its own effect, the rest of the path being the same
	hasc = 0
	for (i = 1; i <= np; i++) if (P[i] == "c") hasc = 1
	if (hasd && hasc) { nc++; CX[nc] = "d"; CY[nc] = "c" }
	for (j = 1; j <= nc; j++) { hdr = hdr " " CX[j] "/" CY[j] " |"; sep = sep "---|" }
	print "Ratios of medians (x/y: path x over path y):"
	print ""
	print hdr " (c) vs (p) target | c/p per round |"
	print sep "---|---|"
	met = 0; tot = 0; misses = ""; cmet = 0; ctot = 0; cmisses = ""
	for (r = 1; r <= nrows; r++) {
		line = "| " RL[r] " | " RU[r] " " (RD[r] == "up" ? "↑" : "↓") " |"
		for (j = 1; j <= nc; j++)
			line = line " " rfmt(ratio(med[r, CX[j]], med[r, CY[j]])) " |"
		cp = ratio(med[r, "c"], med[r, "p"])
		if (cp == "") {
			verdict = "—"
		} else {
			ok = (RD[r] == "up") ? (cp >= 0.97) : (cp <= 1.03)
			overlap = !(mx[r, "c"] < mn[r, "p"] || mn[r, "c"] > mx[r, "p"])
			verdict = ok ? "met" : "**not met**" (overlap ? " (ranges overlap)" : "")
			if (r <= ncore) {
				tot++
				if (ok) met++
				else misses = misses (misses == "" ? "" : "; ") RL[r] " " sprintf("%.2f×", cp)
			} else {
				ctot++
				if (ok) cmet++
				else cmisses = cmisses (cmisses == "" ? "" : "; ") RL[r] " " sprintf("%.2f×", cp)
			}
		}
		pr = paired(r, "c", "p") ? sprintf("%.2f× [%.2f–%.2f]", PMED, PMIN, PMAX) : "—"
		print line " " verdict " | " pr " |"
	}
	print ""
	print "Targets (reported, never asserted):"
	print ""
	printf "- (c) within 3 %% of (p) (↑ rows: c/p ≥ 0.97; ↓ rows: c/p ≤ 1.03): met on %d of %d performance rows", met, tot
	if (misses != "") printf "; not met: %s", misses
	print "."
	printf "- The same test on CPU cost per operation: met on %d of %d rows", cmet, ctot
	if (cmisses != "") printf "; not met: %s", cmisses
	print "."
	for (r = 1; r <= nrows; r++) if (RW[r] == "connrate" && RM[r] == "cps") {
		cb = ratio(med[r, "c"], med[r, "b"])
		pr = paired(r, "c", "b") ? sprintf(" (per round: %.2f× [%.2f–%.2f])", PMED, PMIN, PMAX) : ""
		if (cb == "") print "- (c) ≥ 1.2× (b) on new connections/s: no number."
		else printf "- (c) ≥ 1.2× (b) on new connections/s: c/b = %.2f×%s, %s.\n", cb, pr, (cb >= 1.2 ? "met" : "**not met**")
	}
	print ""
}
