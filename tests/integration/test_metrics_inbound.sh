#!/usr/bin/env bash
# Inbound connections, for the workload that accepts them (docs/metrics.md): a client workload
# "wl-cli" (enrolled, the pod's address ignored: it goes direct) opens K connections to the app
# port of the workload "wl-in", whose sidecar (HAProxy, uid 1337, ingress port 15000) relays them
# to the app (mwt-sink on 8080: reads A, answers B).
#   the connection log: K "inbound" lines of wl-in (src the client, dst what it dialled, sent B,
#     received A: the workload's view), K "direct" lines of wl-cli (sent A, received B), and
#     HAProxy's K legs to the app
#   metrics: the connection is counted once, as the client's (wl-cli); wl-in has no row for it
#   conns: a held connection shows under wl-in as inbound, with its bytes
#
#   cli 10.250.26.2 ==veth== pod 10.250.26.1
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics_inbound

mw_require mwt-sink mwt-xfer -- haproxy curl jq
XFER=$MW_TOOLS/mwt-xfer

POD_IP=10.250.26.1
CLI_IP=10.250.26.2
A=3210 B=76543
K=4
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE
unset MESHWARP_TRACKING MESHWARP_SHORTCUT APPMESH_IGNORE_GID

mw_netns pod
mw_netns cli
mw_netns node
mw_veth cli "$CLI_IP" pod "$POD_IP"

mw_spawn pod "$MW_TOOLS/mwt-sink" -p 8080 -r "$A" -w "$B"
mw_wait_port pod 8080 || mw_die "the app did not listen"
cat >"$MW_TMP/haproxy-in.cfg" <<EOF
global
	maxconn 256
defaults
	mode tcp
	timeout connect 5s
	timeout client 5s
	timeout server 5s
frontend ingress
	bind 0.0.0.0:15000
	default_backend app
backend app
	server app 127.0.0.1:8080
EOF
chmod 0644 "$MW_TMP/haproxy-in.cfg"
mw_spawn pod --uid 1337:1337 haproxy -db -f "$MW_TMP/haproxy-in.cfg"
mw_wait_port pod 15000 || mw_die "HAProxy did not listen"

export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
: >"$CONN_LOG"
mw_spawn node --no-cg "$MESHWARP" agent --tracking on --metrics-addr "127.0.0.1:$MPORT" \
	--conn-log "$CONN_LOG"
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"

out=$(env APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001 \
	APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_APP_PORTS=8080 MESHWARP_WORKLOAD=wl-in \
	timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init wl-in (ingress 15000, app port 8080)" 0 $? || mw_die "init failed: $out"
out=$(env APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001 \
	APPMESH_EGRESS_IGNORED_IP="$POD_IP" MESHWARP_WORKLOAD=wl-cli \
	timeout 30 ip netns exec "$(mw_ns cli)" "$MESHWARP" init 2>&1)
mw_expect_eq "init wl-cli (the pod's address ignored)" 0 $? || mw_die "init failed: $out"

mw_expect_eq "$K connections from wl-cli to the app port of wl-in, through its sidecar" \
	"ok $K sent=$((K * A)) received=$((K * B))" \
	"$(mw_in_pod cli "$XFER" -n "$K" -s "$A" -r "$B" "$POD_IP" 8080)"
for i in $(seq 100); do
	[ "$(wc -l <"$CONN_LOG")" -ge $((3 * K)) ] && break
	sleep 0.1
done
mw_expect_eq "log: $((3 * K)) lines (inbound, the client's, HAProxy's to the app)" $((3 * K)) \
	"$(wc -l <"$CONN_LOG")"
lines() {
	jq -r --arg r "$1" 'select(.role == $r) |
		"\(.source_workload) \(.dst) \(.sent_bytes) \(.received_bytes) \(.outcome)"' \
		"$CONN_LOG" | sort | uniq -c | sed 's/^ *//'
}
mw_expect_eq "log: inbound lines are wl-in's, to what the client dialled, the workload's bytes" \
	"$K wl-in $POD_IP:8080 $B $A normal" "$(lines inbound)"
mw_expect_eq "log: inbound lines name the client as src" "$K" \
	"$(jq -r 'select(.role == "inbound") | .src' "$CONN_LOG" | grep -c "^$CLI_IP:")"
mw_expect_eq "log: the client's lines are wl-cli's" "$K wl-cli $POD_IP:8080 $A $B normal" \
	"$(lines direct)"
mw_expect_eq "log: HAProxy's legs to the app are wl-in's sidecar legs" \
	"$K wl-in 127.0.0.1:8080 $A $B normal" \
	"$(lines sidecar)"

M=$(mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics")
opened() {
	MW_K="meshwarp_tcp_connections_opened_total{source_workload=\"$1\",destination_service=\"$POD_IP\",destination_port=\"8080\"}" \
		awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$M"
}
mw_expect_eq "metrics: counted once, as the client's" "$K absent" "$(opened wl-cli) $(opened wl-in)"
mw_expect_eq "metrics: HAProxy's legs to the app are not wl-in's connections" "" \
	"$(grep -F 'source_workload="wl-in"' <<<"$M" | grep '^meshwarp_tcp_connections_opened_total')"

mw_in_pod cli "$XFER" -s "$A" -r "$B" -H "$MW_TMP/release" "$POD_IP" 8080 >"$MW_TMP/held.out" 2>&1 &
HELD=$!
mw_register_pid "$HELD"
mw_wait_log "$MW_TMP/held.out" '^held$' || mw_fail "held connection" "not held"
mw_expect_eq "conns -w wl-in: the held connection, inbound, to $POD_IP:8080 from the client" \
	"inbound $POD_IP:8080 $CLI_IP" \
	"$("$MESHWARP" conns -j -w wl-in | jq -r '.[] | select(.role == "inbound") | "\(.role) \(.destination) \(.local | sub(":[0-9]+$"; ""))"')"
touch "$MW_TMP/release"
wait "$HELD"

mw_test_end
