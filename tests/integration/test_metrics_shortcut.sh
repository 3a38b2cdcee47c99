#!/usr/bin/env bash
# Bytes of connections on the local shortcut (docs/shortcut.md) in every view of the metrics:
# the app's socket hands its writes to HAProxy's socket outside TCP, so the kernel's TCP
# counters never see them; the connection log, `meshwarp conns` and the totals must still say
# what the application wrote and read, each byte once.
#   K connections through HAProxy (MESHWARP_SHORTCUT=1) to an mwt-sink that reads A, answers B:
#     each "redirected" log line says sent A, received B; the Prometheus totals are K*A, K*B
#     (not twice that); the shortcut carried bytes
#   one connection held open after its bytes: `meshwarp conns` shows sent A, received B, and
#     how much of it the shortcut carried
#
#   pod 10.250.24.1 ==veth== up 10.250.24.2
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics_shortcut

mw_require mwt-sink mwt-xfer -- haproxy curl jq
XFER=$MW_TOOLS/mwt-xfer

POD_IP=10.250.24.1
UP_IP=10.250.24.2
WL=wl-s
A=300000 B=700000	# both under the shortcut's 1 MiB budget: they stay on it
K=5
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT MESHWARP_TRACKING
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=
export APPMESH_ENABLE_IPV6=0

mw_netns pod
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP"

mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 9010 -r "$A" -w "$B"
mw_wait_port up 9010 || mw_die "mwt-sink did not listen"
mw_haproxy pod 15001
mw_wait_port pod 15001 || mw_die "HAProxy did not listen"

export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
: >"$CONN_LOG"
mw_spawn node --no-cg "$MESHWARP" agent --tracking on --metrics-addr "127.0.0.1:$MPORT" \
	--conn-log "$CONN_LOG" --shortcut-hold 45
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"

st() { mw_in_ns pod "$MESHWARP" status -j; }
MODE=1
if [ "$(st | jq -r .shortcut.others_on_host)" == true ]; then
	echo "# other sockops/sk_msg/sockmap users on this host: $(st | jq -c '[.shortcut.host_users[] | select(.meshwarp | not)]'); using MESHWARP_SHORTCUT=force"
	MODE=force
fi
# The hold time is the node's (agent --shortcut-hold): a pod's MESHWARP_SHORTCUT_HOLD is ignored.
out=$(MESHWARP_WORKLOAD=$WL MESHWARP_SHORTCUT=$MODE MESHWARP_SHORTCUT_HOLD=5 timeout 30 \
	ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init with MESHWARP_SHORTCUT=$MODE through the agent: exits 0" 0 $? ||
	mw_die "init failed: $out"
mw_expect_eq "status: holds last 45 s (agent --shortcut-hold), not the pod's 5" 45 \
	"$(st | jq -r .shortcut.hold_seconds)"
mw_expect_eq "status: the workload has the shortcut" true \
	"$(st | jq -r '.workloads[] | select(.current) | .shortcut')" || mw_die "no shortcut"
ev() { st | jq -r ".shortcut.events.$1"; }

# --- closed connections: the log and the totals ----------------------------------------------
p0=$(ev paired) b0=$(ev bytes)
mw_expect_eq "$K connections of $A up, $B down" "ok $K sent=$((K * A)) received=$((K * B))" \
	"$(mw_in_pod pod "$XFER" -n "$K" -s "$A" -r "$B" "$UP_IP" 9010)"
paired=$(($(ev paired) - p0))
carried=$(($(ev bytes) - b0))
mw_expect_match "  they paired ($paired of $K)" "^[1-9][0-9]*$" "$paired"
mw_expect_match "  the shortcut carried bytes of them ($carried)" "^[1-9][0-9]*$" "$carried"

# The app's K lines and HAProxy's K upstream legs.
for i in $(seq 100); do
	[ "$(wc -l <"$CONN_LOG")" -ge $((2 * K)) ] && break
	sleep 0.1
done
mw_expect_eq "connection log: $((2 * K)) lines" $((2 * K)) "$(wc -l <"$CONN_LOG")"
mw_expect_eq "connection log: every redirected line says sent $A, received $B" \
	"$(for i in $(seq "$K"); do echo "$A $B"; done)" \
	"$(jq -r 'select(.role == "redirected") | "\(.sent_bytes) \(.received_bytes)"' "$CONN_LOG")"
mw_expect_eq "connection log: HAProxy's upstream legs (TCP) say the same bytes" \
	"$(for i in $(seq "$K"); do echo "$A $B"; done)" \
	"$(jq -r 'select(.role == "sidecar") | "\(.sent_bytes) \(.received_bytes)"' "$CONN_LOG")"

M=$(mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics") ||
	mw_die "scraping the agent failed"
lab=$(printf 'source_workload="%s",destination_service="%s",destination_port="9010"' "$WL" "$UP_IP")
val() { MW_K="$1{$lab}" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$M"; }
mw_expect_eq "metrics: opened, closed, sent, received: each byte once" \
	"$K $K $((K * A)) $((K * B))" \
	"$(val meshwarp_tcp_connections_opened_total) $(val meshwarp_tcp_connections_closed_total) $(val meshwarp_tcp_sent_bytes_total) $(val meshwarp_tcp_received_bytes_total)"
# The shortcut's own counters: what status says (nothing moves between the two reads).
scm() { MW_K="$1" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$M"; }
mw_expect_eq "metrics: the shortcut's paired, not_local and bytes, as status says" \
	"$(ev paired) $(ev not_local) $(ev bytes)" \
	"$(scm 'meshwarp_shortcut_events_total{event="paired"}') $(scm 'meshwarp_shortcut_events_total{event="not_local"}') $(scm meshwarp_shortcut_bytes_total)"

# --- a live connection: meshwarp conns ------------------------------------------------------
b0=$(ev bytes)
mw_in_pod pod "$XFER" -s "$A" -r "$B" -H "$MW_TMP/release" "$UP_IP" 9010 >"$MW_TMP/held.out" 2>&1 &
HELD=$!
mw_register_pid "$HELD"
mw_wait_log "$MW_TMP/held.out" '^held$' || mw_fail "held connection" "not held"
live=$("$MESHWARP" conns -j -w "$WL" | jq -c '[.[] | select(.role == "redirected")]')
mw_expect_eq "conns: one live redirected connection" 1 "$(jq length <<<"$live")"
mw_expect_eq "conns: sent $A, received $B while it is open" "$A $B" \
	"$(jq -r '.[0] | "\(.sent_bytes) \(.received_bytes)"' <<<"$live")"
sc=$(jq -r '.[0] | .shortcut_sent_bytes + .shortcut_received_bytes' <<<"$live")
mw_expect_eq "conns: the shortcut's part is what the shortcut carried" "$(($(ev bytes) - b0))" \
	"$sc"
touch "$MW_TMP/release"
wait "$HELD"
mw_expect_eq "the held connection finished" "held ok 1 sent=$A received=$B" \
	"$(paste -sd ' ' "$MW_TMP/held.out")"
for i in $(seq 100); do
	[ "$(wc -l <"$CONN_LOG")" -ge $((2 * K + 2)) ] && break
	sleep 0.1
done
mw_expect_eq "its log line: sent $A, received $B" "$A $B" \
	"$(jq -r 'select(.role == "redirected") | "\(.sent_bytes) \(.received_bytes)"' "$CONN_LOG" |
		tail -1)"

mw_test_end
