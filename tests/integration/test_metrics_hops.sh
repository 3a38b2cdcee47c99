#!/usr/bin/env bash
# The two legs of a sidecar hop, joined (docs/metrics.md, "Hops"): the app's redirected
# connection and HAProxy's connection to the original destination. Each is one line of the
# connection log; the app's line has "hop" = its own cookie, HAProxy's line the same "hop" when
# the join is certain (it was the only connection of the workload waiting for an upstream leg to
# that destination). Metrics still count the connection once.
#   K connections one after the other: every HAProxy leg joined to exactly one app leg, the
#     same destination, the same bytes
#   P connections at once to one destination: whatever is joined is joined to an app leg of that
#     destination, no app leg twice
#   a held connection: `meshwarp conns -j` shows both legs with the same "hop"
#   a connection that only receives: `meshwarp conns` shows its bytes while it is open (fresh
#     counters from sock_diag, not the record's sample)
#
#   pod 10.250.25.1 ==veth== up 10.250.25.2
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics_hops

mw_require mwt-sink mwt-xfer -- haproxy curl jq
XFER=$MW_TOOLS/mwt-xfer

POD_IP=10.250.25.1
UP_IP=10.250.25.2
WL=wl-h
A=4321 B=54321
K=6 P=8
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT MESHWARP_TRACKING
unset MESHWARP_SHORTCUT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=
export APPMESH_ENABLE_IPV6=0

mw_netns pod
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP"

mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8080 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8081 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8082 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8083 -r 0 -w "$B"
for p in 8080 8081 8082 8083; do
	mw_wait_port up "$p" || mw_die "mwt-sink on $p did not listen"
done
mw_haproxy pod 15001
mw_wait_port pod 15001 || mw_die "HAProxy did not listen"

export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
: >"$CONN_LOG"
mw_spawn node --no-cg "$MESHWARP" agent --tracking on --metrics-addr "127.0.0.1:$MPORT" \
	--conn-log "$CONN_LOG"
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"
out=$(MESHWARP_WORKLOAD=$WL timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init through the agent exits 0" 0 $? || mw_die "init failed: $out"

wait_lines() {
	local i
	for i in $(seq 100); do
		[ "$(wc -l <"$CONN_LOG")" -ge "$1" ] && break
		sleep 0.1
	done
	wc -l <"$CONN_LOG"
}
# legs PORT ROLE: "cookie hop sent received" of the log lines of that role to UP_IP:PORT
legs() {
	jq -r --arg d "$UP_IP:$1" --arg r "$2" \
		'select(.dst == $d and .role == $r) | "\(.cookie) \(.hop // 0) \(.sent_bytes) \(.received_bytes)"' \
		"$CONN_LOG"
}

# --- one after the other ---------------------------------------------------------------------
mw_expect_eq "$K connections to $UP_IP:8080, one after the other" \
	"ok $K sent=$((K * A)) received=$((K * B))" \
	"$(mw_in_pod pod "$XFER" -n "$K" -s "$A" -r "$B" "$UP_IP" 8080)"
mw_expect_eq "log: $K app legs and $K HAProxy legs" $((2 * K)) "$(wait_lines $((2 * K)))"
app=$(legs 8080 redirected)
side=$(legs 8080 sidecar)
mw_expect_eq "every app leg's hop is its own cookie" "$K" \
	"$(awk '$1 == $2 && $1 != 0' <<<"$app" | wc -l)"
mw_expect_eq "every HAProxy leg is joined, each to a different app leg" \
	"$(awk '{ print $1 }' <<<"$app" | sort -n | paste -sd ' ')" \
	"$(awk '{ print $2 }' <<<"$side" | sort -n | paste -sd ' ')"
mw_expect_eq "joined legs carry the same bytes" "$K" \
	"$(join <(awk '{ print $1, $3, $4 }' <<<"$app" | sort) \
		<(awk '{ print $2, $3, $4 }' <<<"$side" | sort) | awk '$2 == $4 && $3 == $5' | wc -l)"
M=$(mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics")
lab=$(printf 'source_workload="%s",destination_service="%s",destination_port="8080"' "$WL" "$UP_IP")
mw_expect_eq "metrics: counted once per connection, not per leg" "$K" \
	"$(MW_K="meshwarp_tcp_connections_opened_total{$lab}" awk '$1 == ENVIRON["MW_K"] { print $2 }' <<<"$M")"

# --- at once ----------------------------------------------------------------------------------
n0=$(wc -l <"$CONN_LOG")
for i in $(seq "$P"); do
	mw_in_pod pod "$XFER" -s "$A" -r "$B" "$UP_IP" 8081 >"$MW_TMP/par-$i.out" 2>&1 &
	pids+=("$!")
	mw_register_pid "$!"
done
wait "${pids[@]}"
mw_expect_eq "$P connections at once to $UP_IP:8081" "$P" \
	"$(cat "$MW_TMP"/par-*.out | grep -c "^ok 1 sent=$A received=$B$")"
mw_expect_eq "log: $P app legs and $P HAProxy legs" $((n0 + 2 * P)) "$(wait_lines $((n0 + 2 * P)))"
app=$(legs 8081 redirected)
side=$(legs 8081 sidecar)
joined=$(awk '$2 != 0 { print $2 }' <<<"$side" | sort -n)
echo "# $(grep -c . <<<"$joined") of $P HAProxy legs joined"
mw_expect_eq "at once: no app leg named twice" "" "$(uniq -d <<<"$joined")"
mw_expect_eq "at once: every joined HAProxy leg names an app leg of this destination" "" \
	"$(comm -23 <(sort <<<"$joined") <(awk '{ print $1 }' <<<"$app" | sort))"

# --- live -------------------------------------------------------------------------------------
mw_in_pod pod "$XFER" -s "$A" -r "$B" -H "$MW_TMP/release" "$UP_IP" 8082 >"$MW_TMP/held.out" 2>&1 &
HELD=$!
mw_register_pid "$HELD"
mw_wait_log "$MW_TMP/held.out" '^held$' || mw_fail "held connection" "not held"
live=$("$MESHWARP" conns -j -w "$WL" | jq -c '[.[] | select(.destination | endswith(":8082"))]')
mw_expect_eq "conns: both legs live" "redirected sidecar" \
	"$(jq -r '[.[].role] | sort | join(" ")' <<<"$live")"
mw_expect_eq "conns: the same hop on both, the app leg's cookie" "1 true" \
	"$(jq -r '"\([.[].hop] | unique | length) \(.[0].hop == ([.[] | select(.role == "redirected")][0].cookie))"' <<<"$live")"
touch "$MW_TMP/release"
wait "$HELD"

# --- fresh live bytes: a connection that only receives ------------------------------------
# sockops samples at establishment and close only, so the record says 0 received until it
# closes; conns reads tcp_info (sock_diag) instead.
mw_in_pod pod "$XFER" -s 0 -r "$B" -H "$MW_TMP/release2" "$UP_IP" 8083 >"$MW_TMP/recv.out" 2>&1 &
RECV=$!
mw_register_pid "$RECV"
mw_wait_log "$MW_TMP/recv.out" '^held$' || mw_fail "receive-only connection" "not held"
mw_expect_eq "conns: a receive-only connection shows its received bytes while open" "0 $B" \
	"$("$MESHWARP" conns -j -w "$WL" | jq -r '.[] | select(.role == "redirected" and (.destination | endswith(":8083"))) | "\(.sent_bytes) \(.received_bytes)"')"
touch "$MW_TMP/release2"
wait "$RECV"

mw_test_end
