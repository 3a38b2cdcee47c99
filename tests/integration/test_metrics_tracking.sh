#!/usr/bin/env bash
# The tracking switch: connection tracking and its metrics, host-wide, on and off without a
# reload. A workload "wl-t" enrolled through the agent, HAProxy (uid 1337) as its egress
# sidecar, an mwt-sink upstream that reads A and answers B, mwt-xfer clients in the pod.
#   agent --tracking off: status -j says "tracking": false; K redirected and L direct
#     connections go through (the bytes arrive: interception unaffected), the decisions are
#     counted, and no connection series, no log line, no live record appears
#   `meshwarp tracking on`: the same traffic is counted exactly (opened, closed, bytes), and
#     logged, one line per connection (HAProxy's legs included)
#   `meshwarp tracking off` again: the counters and the log stay where they were
#   a pod's MESHWARP_TRACKING is ignored by the agent (the node's setting), with a message;
#   standalone init applies it; invalid values are refused
#   a connection open when tracking is turned off finishes its record: opened == closed
#
#   pod 10.250.23.1 ==veth== up 10.250.23.2 (+ 10.250.23.9: the ignored IP)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics_tracking

mw_require mwt-sink mwt-xfer -- haproxy curl jq
XFER=$MW_TOOLS/mwt-xfer

POD_IP=10.250.23.1
UP_IP=10.250.23.2
IGN_IP=10.250.23.9
WL=wl-t
A=23456 B=65432
K=4 L=3
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT APPMESH_EGRESS_IGNORED_PORTS
unset MESHWARP_TRACKING
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_IP=$IGN_IP

mw_netns pod
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP"
mw_in_ns up ip addr add "$IGN_IP/24" dev "$MW_VETH2" || mw_die "address $IGN_IP in up failed"

mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8080 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8081 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8082 -r "$A" -w "$B" -e
for p in 8080 8081 8082; do
	mw_wait_port up "$p" || mw_die "mwt-sink on port $p did not listen"
done
mw_haproxy pod 15001
mw_wait_port pod 15001 || mw_die "HAProxy did not listen"

export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
: >"$CONN_LOG"
mw_spawn node --no-cg "$MESHWARP" agent --tracking off --metrics-addr "127.0.0.1:$MPORT" \
	--conn-log "$CONN_LOG"
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"
mw_expect_match "agent: says tracking is off" "connection tracking off" "$(cat "$AGENT_LOG")"

tracking_status() { "$MESHWARP" status -j | jq -c '.tracking'; }
mw_expect_eq "status -j: tracking false (agent --tracking off)" false "$(tracking_status)"
mw_expect_eq "meshwarp tracking: off" off "$("$MESHWARP" tracking)"

# A pod cannot switch the node's tracking: the agent says so and leaves it off.
out=$(MESHWARP_WORKLOAD=$WL MESHWARP_TRACKING=on timeout 30 \
	ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init through the agent exits 0" 0 $? || mw_die "init failed: $out"
mw_expect_match "init through the agent: MESHWARP_TRACKING ignored, said so" \
	"MESHWARP_TRACKING is the node's setting .*: ignored here" "$out"
mw_expect_eq "status -j: still false after a pod asked for on" false "$(tracking_status)"

URL=http://127.0.0.1:$MPORT/metrics
scrape() { mw_in_ns node curl -sf --max-time 10 "$URL"; }
# val NAME PORT [DEST]: the value of NAME{this workload, DEST (default UP_IP), PORT}, "absent".
val() {
	local k
	k=$(printf '%s{source_workload="%s",destination_service="%s",destination_port="%s"}' \
		"$1" "$WL" "${3:-$UP_IP}" "$2")
	MW_K="$k" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }'
}
# row PORT [DEST]: opened closed active sent received of one destination, one line.
row() {
	local m n s=""
	m=$(scrape) || { echo "scrape failed"; return; }
	for n in connections_opened_total connections_closed_total connections_active \
		sent_bytes_total received_bytes_total; do
		s+="$(val "meshwarp_tcp_$n" "$1" "${2:-}" <<<"$m") "
	done
	echo "${s% }"
}
decision() {
	scrape | awk -v w="$WL" -v r="$1" '
		index($1, "meshwarp_decisions_total{source_workload=\"" w "\",direction=\"egress\",") == 1 &&
		index($1, ",reason=\"" r "\"}") { print $2; f = 1 } END { if (!f) print "absent" }'
}
traffic() {
	mw_expect_eq "$1: $K redirected to $UP_IP:8080, bytes arrive" \
		"ok $K sent=$((K * A)) received=$((K * B))" \
		"$(mw_in_pod pod "$XFER" -n "$K" -s "$A" -r "$B" "$UP_IP" 8080)"
	mw_expect_eq "$1: $L direct to $IGN_IP:8081, bytes arrive" \
		"ok $L sent=$((L * A)) received=$((L * B))" \
		"$(mw_in_pod pod "$XFER" -n "$L" -s "$A" -r "$B" "$IGN_IP" 8081)"
}
# wait_lines N: until the log has N lines (~10 s), then its count.
wait_lines() {
	local i
	for i in $(seq 100); do
		[ "$(wc -l <"$CONN_LOG")" -ge "$1" ] && break
		sleep 0.1
	done
	sleep 0.3	# a line too many would come now
	wc -l <"$CONN_LOG"
}

# --- off: interception works, nothing is tracked --------------------------------------------
traffic "off"
sleep 1
mw_expect_eq "off: no series for $UP_IP:8080" "absent absent absent absent absent" "$(row 8080)"
mw_expect_eq "off: no series for $IGN_IP:8081" "absent absent absent absent absent" \
	"$(row 8081 "$IGN_IP")"
mw_expect_eq "off: decisions still counted (redirect)" "$K" "$(decision redirect)"
mw_expect_eq "off: decisions still counted (addr)" "$L" "$(decision addr)"
mw_expect_eq "off: decisions still counted (HAProxy's uid)" "$K" "$(decision uid)"
mw_expect_eq "off: no connection log line" 0 "$(wc -l <"$CONN_LOG")"
mw_expect_eq "off: no live record of the workload" 0 \
	"$("$MESHWARP" conns -j -w "$WL" | jq 'length')"

# --- on, without a reload -------------------------------------------------------------------
prog_before=$("$MESHWARP" status -j | jq -c '[.programs[] | .prog_id]')
mw_expect_eq "meshwarp tracking on: prints on" on "$("$MESHWARP" tracking on)"
mw_expect_eq "status -j: tracking true" true "$(tracking_status)"
mw_expect_eq "no reload: the same programs" "$prog_before" \
	"$("$MESHWARP" status -j | jq -c '[.programs[] | .prog_id]')"
traffic "on"
# Every connection of the pod (K app legs, K HAProxy legs, L direct) closes into the log.
mw_expect_eq "on: one log line per connection" $((2 * K + L)) "$(wait_lines $((2 * K + L)))"
ON8080="$K $K 0 $((K * A)) $((K * B))"
ON8081="$L $L 0 $((L * A)) $((L * B))"
mw_expect_eq "on: $UP_IP:8080 counted exactly" "$ON8080" "$(row 8080)"
mw_expect_eq "on: $IGN_IP:8081 counted exactly" "$ON8081" "$(row 8081 "$IGN_IP")"

# --- off again: counters stand still -------------------------------------------------------
mw_expect_eq "meshwarp tracking off: prints off" off "$("$MESHWARP" tracking off)"
mw_expect_eq "status -j: tracking false again" false "$(tracking_status)"
traffic "off again"
sleep 1
mw_expect_eq "off again: $UP_IP:8080 unchanged" "$ON8080" "$(row 8080)"
mw_expect_eq "off again: $IGN_IP:8081 unchanged" "$ON8081" "$(row 8081 "$IGN_IP")"
mw_expect_eq "off again: no new log line" $((2 * K + L)) "$(wc -l <"$CONN_LOG")"
mw_expect_eq "off again: decisions keep counting (redirect)" $((3 * K)) "$(decision redirect)"

# --- a connection open across the switch: its record finishes ------------------------------
mw_expect_eq "tracking on before the long connection" on "$("$MESHWARP" tracking on)"
mw_in_pod pod "$XFER" -s "$A" -r "$B" -c -H "$MW_TMP/release" "$IGN_IP" 8082 \
	>"$MW_TMP/long.out" 2>&1 &
LONG=$!
mw_register_pid "$LONG"
mw_wait_log "$MW_TMP/long.out" '^held$' || mw_fail "the long connection" "not held"
mw_expect_eq "the long connection is live" 1 \
	"$("$MESHWARP" conns -j -w "$WL" | jq '[.[] | select(.destination | endswith(":8082"))] | length')"
mw_expect_eq "tracking off while it is open" off "$("$MESHWARP" tracking off)"
touch "$MW_TMP/release"
wait "$LONG"
mw_expect_eq "the long connection finished" "held ok 1 sent=$A received=$B" \
	"$(paste -sd ' ' "$MW_TMP/long.out")"
mw_expect_eq "its line is logged" $((2 * K + L + 1)) "$(wait_lines $((2 * K + L + 1)))"
mw_expect_eq "$IGN_IP:8082: opened 1, closed 1, exact bytes" "1 1 0 $A $B" "$(row 8082 "$IGN_IP")"

# --- settings from the environment --------------------------------------------------------
out=$(MESHWARP_TRACKING=maybe "$MESHWARP" status 2>&1)
mw_expect_eq "MESHWARP_TRACKING=maybe: usage exit 2" 2 $?
mw_expect_match "MESHWARP_TRACKING=maybe: named" \
	"MESHWARP_TRACKING: invalid value \[maybe\] specified \(expected on or off\)" "$out"
out=$("$MESHWARP" tracking maybe 2>&1)
mw_expect_eq "meshwarp tracking maybe: usage exit 2" 2 $?
out=$(MESHWARP_WORKLOAD=$WL MESHWARP_STANDALONE=1 MESHWARP_TRACKING=on timeout 30 \
	ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "standalone init with MESHWARP_TRACKING=on exits 0" 0 $? || mw__log "$out"
mw_expect_eq "status -j: standalone init turned tracking on" true "$(tracking_status)"
out=$(MESHWARP_WORKLOAD=$WL MESHWARP_STANDALONE=1 MESHWARP_TRACKING=off timeout 30 \
	ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "status -j: standalone init turned tracking off" false "$(tracking_status)"
out=$(MESHWARP_WORKLOAD=$WL MESHWARP_STANDALONE=1 timeout 30 \
	ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "status -j: init without MESHWARP_TRACKING leaves it" false "$(tracking_status)"

mw_test_end
