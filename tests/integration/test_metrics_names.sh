#!/usr/bin/env bash
# Names in the agent's outputs: workload names (MESHWARP_WORKLOAD at init) and service names
# (--services) with the characters each format must treat specially, the same names through
# every exit:
#   /metrics     label values escaped (\" \\ \n), `promtool check metrics` clean, and a real
#                Prometheus server reads the name back exactly
#   statsd       tag values with , | # : and control characters replaced by _; with a push
#                interval of an hour, SIGTERM's final push carries everything, once
#   the log      JSON strings that decode to the exact names
# and: no MESHWARP_WORKLOAD: "netns-<cookie>"; 63 bytes is the longest name, 64 is refused; a
# name that is not UTF-8 is refused, or else never breaks the exposition or the log (one such
# pod must not make every scrape of the node fail).
#
#   pod1..pod4: no link; each runs mwt-sink on port 7000 (outside the test cgroup) and connects
#   to it over 127.0.0.1 (a local destination: direct, and tracked).
#   node: the agent (--no-cg), the statsd listener, Prometheus.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics_names

mw_require mwt-sink mwt-xfer mwt-udp -- curl jq promtool prometheus iconv

A=1111 B=2222
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE SPORT=$((BASE + 1)) PPORT=$((BASE + 2))
# A quote, a backslash followed by n (not a newline), the statsd delimiters, a real newline.
NAME1=$'we"ird\\nam,e|x#:y\nz'
PROM1='we\"ird\\nam,e|x#:y\nz'
STATSD1='we"ird\nam_e_x__y_z'
NAME3=$(printf 'n%.0s' $(seq 63))
SVC='pay"ments\eu'
PROM_SVC='pay\"ments\\eu'

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT APPMESH_EGRESS_IGNORED_IP
unset APPMESH_EGRESS_IGNORED_PORTS MESHWARP_WORKLOAD
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENABLE_IPV6=0

mw_netns node
for p in pod1 pod2 pod3 pod4; do
	mw_netns "$p"
	mw_spawn "$p" --no-cg "$MW_TOOLS/mwt-sink" -p 7000 -r "$A" -w "$B"
	mw_wait_port "$p" 7000 || mw_die "mwt-sink in $p did not listen"
done

STATSD_FILE=$MW_TMP/statsd.txt
mw_spawn node --no-cg "$MW_TOOLS/mwt-udp" -p "$SPORT" -o "$STATSD_FILE"
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-udp did not start"
jq -n --arg n "$SVC" '{services: [{name: $n, addresses: ["127.0.0.1/32"], ports: [7000]}]}' \
	>"$MW_TMP/services.json"
export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
mw_spawn node --no-cg "$MESHWARP" agent --metrics-addr "127.0.0.1:$MPORT" \
	--statsd "127.0.0.1:$SPORT" --statsd-interval 3600 --conn-log "$CONN_LOG" \
	--services "$MW_TMP/services.json"
AGENT=$MW_PID
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"

# init POD [NAME]: enrol through the agent (no NAME: no MESHWARP_WORKLOAD); output in OUT.
init() {
	if [ $# -ge 2 ]; then
		OUT=$(MESHWARP_WORKLOAD=$2 mw_in_ns "$1" timeout 30 "$MESHWARP" init 2>&1)
	else
		OUT=$(mw_in_ns "$1" timeout 30 "$MESHWARP" init 2>&1)
	fi
}
xfer() { mw_in_pod "$1" "$MW_TOOLS/mwt-xfer" -s "$A" -r "$B" 127.0.0.1 7000; }
scrape() { mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics"; }
val() { MW_K="$2" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' "$1"; }
row() {
	local l="source_workload=\"$2\",destination_service=\"$PROM_SVC\",destination_port=\"7000\""
	echo "opened=$(val "$1" "meshwarp_tcp_connections_opened_total{$l}")" \
		"sent=$(val "$1" "meshwarp_tcp_sent_bytes_total{$l}")" \
		"received=$(val "$1" "meshwarp_tcp_received_bytes_total{$l}")" \
		"local=$(val "$1" "meshwarp_decisions_total{source_workload=\"$2\",direction=\"egress\",action=\"bypass\",reason=\"local\"}")"
}
WANT_ROW="opened=1 sent=$A received=$B local=1"

init pod1 "$NAME1"
mw_expect_eq "pod1 (quote, backslash, delimiters, newline in the name) enrolled" 0 $? ||
	mw_fail "pod1" "$OUT"
init pod2
mw_expect_eq "pod2 (no name) enrolled" 0 $? || mw_fail "pod2" "$OUT"
init pod3 "${NAME3}n"
rc=$?
mw_expect_eq "a 64-byte name is refused, and says so" "refused: name longer than 63" \
	"$([ "$rc" -ne 0 ] && echo refused || echo "exit 0"): $(grep -o 'name longer than [0-9]*' <<<"$OUT")"
init pod3 "$NAME3"
mw_expect_eq "a 63-byte name is fine" 0 $? || mw_fail "pod3" "$OUT"
POD2_NS=$(mw_in_ns pod2 timeout 20 "$MESHWARP" status -j | jq -r .current_netns)

for p in pod1 pod2 pod3; do
	mw_expect_eq "$p: a connection to 127.0.0.1:7000" "ok 1 sent=$A received=$B" "$(xfer "$p")"
done
for i in $(seq 100); do
	[ "$(wc -l <"$CONN_LOG")" -ge 3 ] && break
	sleep 0.1
done

# --- /metrics ---------------------------------------------------------------------------------
M=$MW_TMP/metrics.txt
scrape >"$M" || mw_die "scrape failed"
mw_expect_eq "/metrics: pod1's row, names escaped" "$WANT_ROW" "$(row "$M" "$PROM1")"
mw_expect_eq "/metrics: pod2's row, netns-<cookie>" "$WANT_ROW" "$(row "$M" "netns-$POD2_NS")"
mw_expect_eq "/metrics: pod3's row, the whole 63-byte name" "$WANT_ROW" "$(row "$M" "$NAME3")"
out=$(promtool check metrics <"$M" 2>&1)
mw_expect_eq "promtool check metrics: exit 0, no complaint" "0 []" "$? [$out]"

# --- the log --------------------------------------------------------------------------------------
mw_expect_eq "the log: the exact names, JSON-encoded" \
	"$(printf '%s\n' "$(jq -cn --arg n "$NAME1" --arg s "$SVC" '[$n, $s]')" \
		"$(jq -cn --arg n "netns-$POD2_NS" --arg s "$SVC" '[$n, $s]')" \
		"$(jq -cn --arg n "$NAME3" --arg s "$SVC" '[$n, $s]')" | LC_ALL=C sort)" \
	"$(jq -c '[.source_workload, .destination_service]' "$CONN_LOG" | LC_ALL=C sort)"

# --- a real Prometheus server reads the names back --------------------------------------------
mkdir -p "$MW_TMP/prom"
cat >"$MW_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: meshwarp
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
mw_spawn node --no-cg prometheus --config.file="$MW_TMP/prometheus.yml" \
	--storage.tsdb.path="$MW_TMP/prom" --web.listen-address="127.0.0.1:$PPORT" --log.level=warn
query() {
	mw_in_ns node curl -s --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null |
		jq -r 'if .status != "success" then "error" elif (.data.result | length) == 0
			then "none" else (.data.result | map(.value[1]) | join(",")) end' 2>/dev/null
}
# PromQL strings escape as the exposition does.
Q1="meshwarp_tcp_received_bytes_total{source_workload=\"$PROM1\",destination_service=\"$PROM_SVC\"}"
for i in $(seq 300); do
	[ "$(query "$Q1")" == "$B" ] && break
	sleep 0.1
done
mw_expect_eq "Prometheus: pod1's row by its exact labels" "$B" "$(query "$Q1")"
mw_expect_eq "Prometheus: the names as stored" \
	"$(jq -cn --arg a "$NAME1" --arg b "$NAME3" --arg c "netns-$POD2_NS" '[$a, $b, $c] | sort')" \
	"$(mw_in_ns node curl -s --max-time 5 "http://127.0.0.1:$PPORT/api/v1/label/source_workload/values" |
		jq -c '.data | sort')"

# --- a name that is not UTF-8 -------------------------------------------------------------------
init pod4 $'bad\xffname'
rc=$?
if [ "$rc" -ne 0 ]; then
	mw_pass "a name that is not UTF-8: refused by init"
	mw_pass "a name that is not UTF-8: (nothing to log)"
else
	xfer pod4 >/dev/null
	for i in $(seq 100); do
		[ "$(wc -l <"$CONN_LOG")" -ge 4 ] && break
		sleep 0.1
	done
	scrape >"$MW_TMP/metrics4.txt"
	out=$(promtool check metrics <"$MW_TMP/metrics4.txt" 2>&1)
	mw_expect_eq "a name that is not UTF-8, accepted by init: /metrics must stay valid" \
		"0 []" "$? [$out]"
	# What it costs: the Prometheus server's next scrape of the node.
	t0=$(date +%s)
	for i in $(seq 100); do
		ts=$(query 'timestamp(up{job="meshwarp"})')
		[[ $ts =~ ^[0-9]+ ]] && [ "${ts%.*}" -gt "$t0" ] && break
		sleep 0.1
	done
	mw_expect_eq "a name that is not UTF-8, accepted by init: Prometheus still scrapes the node" \
		1 "$(query 'up{job="meshwarp"}')"
	mw_expect_eq "a name that is not UTF-8, accepted by init: the log must stay UTF-8" \
		"valid" "$(iconv -f UTF-8 -t UTF-8 "$CONN_LOG" >/dev/null 2>&1 && echo valid ||
			echo "not UTF-8: $(grep -anv "^[[:print:]]*$" "$CONN_LOG" | head -c 200 | cat -v)")"
fi

# --- statsd: everything in SIGTERM's final push -------------------------------------------------
mw_expect_eq "statsd: nothing pushed yet (interval 3600 s)" 0 "$(grep -c . "$STATSD_FILE")"
kill -TERM "$AGENT"
for i in $(seq 100); do
	st=$(awk '{ print $3 }' "/proc/$AGENT/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" == Z ] && break
	sleep 0.1
done
for i in $(seq 50); do
	grep -q connections_opened "$STATSD_FILE" && break
	sleep 0.1
done
# The counter lines of pod1, pod2 and pod3 (not pod4's), as "name|tags value".
got=$(awk -F'|' '$2 == "c" && $1 ~ /^meshwarp\.tcp\.(connections_opened|sent_bytes|received_bytes):/ &&
	($3 ~ /^#source_workload:(we|netns-|nnnn)/) {
	i = index($1, ":"); print substr($1, 1, i - 1) "|" substr($3, 2) " " substr($1, i + 1) }' \
	"$STATSD_FILE" | LC_ALL=C sort)
want=""
for w in "$STATSD1" "netns-$POD2_NS" "$NAME3"; do
	tags="source_workload:$w,destination_service:$SVC,destination_port:7000"
	want+="meshwarp.tcp.connections_opened|$tags 1"$'\n'
	want+="meshwarp.tcp.sent_bytes|$tags $A"$'\n'
	want+="meshwarp.tcp.received_bytes|$tags $B"$'\n'
done
mw_expect_eq "statsd: the final push, tags with , | # : and newline replaced, once each" \
	"$(printf '%s' "$want" | LC_ALL=C sort)" "$got"
mw_expect_eq "statsd: the decisions of pod1 (local, 1)" \
	"meshwarp.decisions:1|c|#source_workload:$STATSD1,direction:egress,action:bypass,reason:local" \
	"$(grep -F "source_workload:$STATSD1,direction" "$STATSD_FILE")"

mw_test_end
