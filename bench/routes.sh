#!/usr/bin/env bash
# `make bench-routes`: what a routing table costs as it grows (docs/routes.md, "Limits and cost").
#
#   bench/routes.sh [--sizes 10,1000,10000,100000] [--count N] [--rounds R] [--applies A]
#
# For each size, a table of that many rules (bench/mwb-routes.c gen: /32 host rules, a few wide
# ones and a rule for everything, the shape of the unit test's scale test) is applied A times to
# one enrolled workload, alternating two versions so every apply writes a whole new generation
# and deletes the old one. `meshwarp -v routes apply` prints where each apply spent its time;
# the table shows the median of each phase. Then R rounds of N connect()s from the workload:
#   hit   to a host rule in the middle of the table that rejects (ECONNREFUSED from connect4:
#         no packet leaves; the cost is the syscall and the programs' lookups)
#   miss  to 10.255.255.254, which only the wide rules cover: redirected to the egress port,
#         where nothing listens (a real SYN and RST on loopback)
# and the median over rounds of each round's median connect() time. A baseline row measures
# the same connects with the workload enrolled and no routing table (App Mesh variables only).
#
# Performance is never asserted: the last line is "bench-routes: N passed, M failed", a pass
# being a size that applied and whose connects gave the expected errno.
#
# Everything runs in a namespace and a cgroup this script creates (tests/integration/lib.sh),
# with pins of its own, and is removed on every exit path. Traffic stays inside that namespace.
# Environment: MESHWARP (default build/meshwarp), BUILD (default build), CC (default cc).
set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$REPO/build}
CC=${CC:-cc}
MESHWARP=${MESHWARP:-$BUILD/meshwarp}
SIZES=10,1000,10000,100000
COUNT=2000
ROUNDS=5
APPLIES=5

usage() {
	sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

rt_int() {
	if ! [[ ${2:-} =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
		echo "bench-routes: $1 wants an integer >= $3" >&2
		exit 2
	fi
}

while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=${2:-}; shift ;;
	--count) rt_int "$1" "${2:-}" 10; COUNT=$2; shift ;;
	--rounds) rt_int "$1" "${2:-}" 1; ROUNDS=$2; shift ;;
	--applies) rt_int "$1" "${2:-}" 1; APPLIES=$2; shift ;;
	-h | --help) usage ;;
	*) echo "bench-routes: unknown argument $1" >&2; usage ;;
	esac
	shift
done
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for s in "${SIZE_LIST[@]}"; do
	rt_int "--sizes" "$s" 4
done
[ -x "$MESHWARP" ] || { echo "bench-routes: $MESHWARP missing: run make" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench-routes: jq missing (scripts/install-deps.sh)" >&2; exit 1; }
export MESHWARP

# shellcheck source=tests/integration/lib.sh
. "$REPO/tests/integration/lib.sh"
mw_test_begin bench-routes

TOOL=$MW_TMP/mwb-routes
$CC -O2 -Wall -Wextra -o "$TOOL" "$BENCH_DIR/mwb-routes.c" || mw_die "building mwb-routes failed"

export APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_IP=169.254.169.254 APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_ENABLE_IPV6=0
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT MESHWARP_ROUTES_FILE
unset MESHWARP_CP_URL
export MESHWARP_WORKLOAD=bench
export MESHWARP_STATE_DIR=$MW_TMP/state
export MESHWARP_AGENT_SOCKET=$MW_TMP/no-agent/agent.sock

mw_netns pod
# Tens of thousands of connects, some to loopback: ports enough for all of them.
mw_in_ns pod sysctl -qw net.ipv4.ip_local_port_range="1024 65000" || mw_die "port range in pod"
out=$(mw_in_pod pod "$MESHWARP" init 2>&1) || mw_die "init failed: $out"

# connects ADDR EXPECTED_ERRNO: R rounds of COUNT connects; prints the median of the rounds'
# medians (µs), and fails unless every round ended with EXPECTED_ERRNO.
connects() {
	local r line meds=() bad=0
	for r in $(seq "$ROUNDS"); do
		line=$(mw_in_pod pod timeout 300 "$TOOL" connect -n "$COUNT" -w 200 "$1" 9) ||
			{ echo "FAIL"; return 1; }
		[ "${line##* }" == "$2" ] || bad=1
		meds+=("${line%% *}")
	done
	printf '%s\n' "${meds[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
	return "$bad"
}

# median of the numbers on stdin
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}

PHASES=(total cpu read parse+validate compile stage apply apply.write apply.switch apply.barrier
	apply.find-old apply.delete apply.records record)
RESULTS=$MW_TMP/results.tsv
: >"$RESULTS"
pass=0
fail=0

base_hit=$(connects 10.0.0.2 ECONNREFUSED) || true
echo "# baseline (no routing table): 10.0.0.2 redirected to a closed port: $base_hit us"

for n in "${SIZE_LIST[@]}"; do
	"$TOOL" gen "$n" bench "a-$n" >"$MW_TMP/a.json" || mw_die "gen $n failed"
	"$TOOL" gen "$n" bench "b-$n" >"$MW_TMP/b.json" || mw_die "gen $n failed"
	read -r hit miss <<<"$("$TOOL" probe "$n")"
	ok=1
	: >"$MW_TMP/times"
	for i in $(seq "$APPLIES"); do
		f=$MW_TMP/a.json
		[ $((i % 2)) -eq 0 ] && f=$MW_TMP/b.json
		out=$("$MESHWARP" -v routes apply "$f" 2>&1 | grep -v '^meshwarp: warning: ')
		rc=${PIPESTATUS[0]}
		if [ "$rc" -ne 0 ]; then
			echo "bench-routes: apply of $n rules failed: $out" >&2
			ok=0
			break
		fi
		sed -n 's/.*routes apply times (ms): //p' <<<"$out" >>"$MW_TMP/times"
	done
	gen=$("$MESHWARP" status -j | jq -r ".workloads[0].generation")
	row="$n"
	for ph in "${PHASES[@]}"; do
		v=$(tr ',' '\n' <"$MW_TMP/times" | sed 's/^ *//' | awk -v p="$ph" '$1 == p { print $2 }' |
			median)
		row+=$'\t'"$v"
	done
	h=$(connects "$hit" ECONNREFUSED) || ok=0
	m=$(connects "$miss" ECONNREFUSED) || ok=0
	row+=$'\t'"$h"$'\t'"$m"$'\t'"$gen"
	echo "$row" >>"$RESULTS"
	echo "# $n rules: $row" | tr '\t' ' '
	if [ "$ok" -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done

{
	echo "## meshwarp routes: apply time and connect() cost by table size"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
		"bench/routes.sh --sizes $SIZES --count $COUNT --rounds $ROUNDS --applies $APPLIES"
	echo
	echo "Apply (\`meshwarp -v routes apply\`, median of $APPLIES applies alternating two versions, ms;" \
		"wall time but for the CPU column, the process's user and system time; - where the binary" \
		"does not report it):"
	echo
	echo "| rules | total | CPU | read | parse+validate | compile | stage | apply | write | switch | barrier | find old | delete old | records | record |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s |", $1; for (i = 2; i <= 15; i++) printf " %s |", $i; printf "\n" }' "$RESULTS"
	echo
	echo "connect() through connect4 (median of $ROUNDS rounds' medians of $COUNT connects, µs);" \
		"baseline without a routing table: $base_hit µs (redirected to a closed port):"
	echo
	echo "| rules | hit: host rule, reject | miss: wide rules, redirect to a closed port |"
	echo "|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $16, $17 }' "$RESULTS"
} | tee "$MW_TMP/report.md"
mkdir -p "$BENCH_DIR/results" && cp "$MW_TMP/report.md" "$BENCH_DIR/results/routes-$(date -u +%Y%m%d-%H%M%S).md"

# The bench's own verdict (never on timings): every size applied and connected as expected.
MW_PASS=$pass
MW_FAIL=$fail
mw_test_end >/dev/null
echo "bench-routes: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
