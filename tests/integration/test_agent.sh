#!/usr/bin/env bash
# The node agent's lifetime and its enrolment socket, checked by what a user sees:
#   (a) the socket is root's alone: mode 0600; a non-root client cannot connect, and one that
#       could (the mode loosened by hand) is still refused by the agent; nothing is enrolled
#   (b) a request enrols the caller's own netns: init from pod and from podb enrols those two,
#       never the agent's (node); a request as large as a 5000-CIDR configuration (~70 KB)
#       enrols as standalone init would
#   (c) `meshwarp conns -j` lists live connections (the app's redirected one, HAProxy's leg,
#       a direct one) with destination, role, state and the bytes written and read so far; -d
#       filters; /metrics counts them active; they go after close
#   (d) SIGTERM: exit 0, the pins stay, interception goes on (traffic still reaches the
#       sidecar with its original destination); init then falls back to standalone
#   (e) counts survive a restart: connections made while no agent ran are in /metrics, exactly,
#       and their close events (kept in the ring buffer) reach the log of the next agent
#   (f) ring buffer overflow is counted, not silent: with the agent stopped (SIGSTOP) while
#       32000 connections close (more than 4 MiB of 136-byte events),
#       datapath_errors_total{kind="events_lost"} rises, the totals stay exact, and the log lines
#       plus the lost events are exactly the connections closed
#   (g) an agent that died (SIGKILL) leaves a stale socket: init still falls back to standalone
#   (h) --cleanup: on SIGTERM the pins and the cgroup attachments go, traffic goes direct
#
#   pod  10.250.22.1 ==veth== up 10.250.22.2 (+ 10.250.22.9, the ignored IP)   HAProxy sidecar
#   podb 10.250.23.1 ==veth== up 10.250.23.2                                   mwt-sidecar
#   podc (no link): only enrolled, with a large configuration
#   node: the agents (--no-cg); its loopback is the test's own
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin agent

mw_require mwt-sink mwt-xfer mwt-sidecar mwt-server mwt-connect -- haproxy curl jq socat setpriv bpftool
XFER=$MW_TOOLS/mwt-xfer
CONNECT=$MW_TOOLS/mwt-connect

POD_IP=10.250.22.1
UP_IP=10.250.22.2
IGN_IP=10.250.22.9
PODB_IP=10.250.23.1
UPB_IP=10.250.23.2
A=50000 B=70000
N1=5 N2=4 NB=3
BIG=32000
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=9000
export APPMESH_EGRESS_IGNORED_IP=$IGN_IP
export APPMESH_ENABLE_IPV6=0
SOCK=$MW_TMP/agent/enrol.sock
export MESHWARP_AGENT_SOCKET=$SOCK
CONN_LOG=$MW_TMP/conns.jsonl

mw_netns pod
mw_netns podb
mw_netns podc
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP"
mw_in_ns up ip addr add "$IGN_IP/24" dev "$MW_VETH2" || mw_die "address $IGN_IP in up failed"
mw_veth podb "$PODB_IP" up "$UPB_IP"
# 32000 connections one after the other: every one with a port of its own.
mw_in_ns pod sysctl -qw net.ipv4.ip_local_port_range="1024 65000" || mw_die "port range in pod"

# --- peers ------------------------------------------------------------------------------------
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8080 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8081 -r "$A" -w "$B" -e
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 9000 -r 1 -w 1
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -p 8088 -n upb
for p in 8080 8081 9000 8088; do
	mw_wait_port up "$p" || mw_die "upstream on port $p did not listen"
done
mw_haproxy pod 15001
mw_wait_port pod 15001 || mw_die "HAProxy did not listen"
mw_spawn podb --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -p 15001
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not start"

SIDECAR_B="SIDECAR orig=$UPB_IP:8088 orig6=[::ffff:$UPB_IP]:8088"
DIRECT_B="UPSTREAM upb local=[::ffff:$UPB_IP]:8088"

# start_agent ARGS...: an agent in node (outside the test cgroup), ready once its socket is.
# Sets AGENT (its PID) and AGENT_LOG.
start_agent() {
	rm -f "$SOCK.ready"
	mw_spawn node --no-cg "$MESHWARP" agent --socket "$SOCK" --conn-log "$CONN_LOG" "$@"
	AGENT=$MW_PID
	AGENT_LOG=$MW_LOG
	mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 && [ -S "$SOCK" ] ||
		mw_die "the agent did not open its socket: $(cat "$AGENT_LOG")"
}
# stop_agent SIGNAL: send it, wait (10 s at most) for the agent to end; its exit status in
# AGENT_RC ("running" if it did not end).
stop_agent() {
	local i st
	kill "-$1" "$AGENT"
	# Gone (bash reaped it and keeps its status for wait) or a zombie.
	for i in $(seq 100); do
		st=$(awk '{ print $3 }' "/proc/$AGENT/stat" 2>/dev/null)
		[ -z "$st" ] || [ "$st" == Z ] && break
		sleep 0.1
	done
	if [ -z "$st" ] || [ "$st" == Z ]; then
		wait "$AGENT" 2>/dev/null
		AGENT_RC=$?
	else
		AGENT_RC=running
	fi
}
scrape() {
	mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:${1:-$MPORT}/metrics"
}
# val FILE SERIES: the value of the exact series, "absent" if none.
val() {
	MW_K="$2" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' "$1"
}
# row FILE WORKLOAD SERVICE PORT: "opened=.. closed=.. sent=.. received=.."
row() {
	local l="source_workload=\"$2\",destination_service=\"$3\",destination_port=\"$4\""
	echo "opened=$(val "$1" "meshwarp_tcp_connections_opened_total{$l}")" \
		"closed=$(val "$1" "meshwarp_tcp_connections_closed_total{$l}")" \
		"sent=$(val "$1" "meshwarp_tcp_sent_bytes_total{$l}")" \
		"received=$(val "$1" "meshwarp_tcp_received_bytes_total{$l}")"
}
# Bounded: a hang is a failure, not a stuck test.
status() { timeout 20 "$MESHWARP" status -j 2>/dev/null; }
netns_of() { mw_in_ns "$1" timeout 20 "$MESHWARP" status -j 2>/dev/null | jq -r .current_netns; }
enrolled() { status | jq -c '[.workloads[].netns] | sort'; }
generation() { status | jq --argjson ns "$1" '.workloads[] | select(.netns == $ns) | .generation'; }
log_lines() { wc -l <"$CONN_LOG" 2>/dev/null || echo 0; }
# wait_lines N: until the connection log has N lines (10 s at most).
wait_lines() {
	local i
	for i in $(seq 100); do
		[ "$(log_lines)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# The redirected connections to up:8080 close as the app saw them: the app's own line and
# HAProxy's leg, in the log.
xfer_8080() {
	mw_in_pod pod "$XFER" -n "$1" -s "$A" -r "$B" "$UP_IP" 8080
}

start_agent --metrics-addr "127.0.0.1:$MPORT"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"

# --- (a) the socket is root's ---------------------------------------------------------------------
mw_expect_eq "(a) socket: root's, mode 0600, in a directory the agent made 0700" \
	"root 600 socket, root 700" "$(stat -c '%U %a %F' "$SOCK"), $(stat -c '%U %a' "${SOCK%/*}")"
REQ='{"op":"enable","env":{"APPMESH_START_ENABLED":"1","APPMESH_IGNORE_UID":"1337","APPMESH_ENVOY_EGRESS_PORT":"15001"}}'
out=$(mw_in_ns pod setpriv --reuid 65534 --regid 65534 --clear-groups \
	socat -t 5 - "UNIX-CONNECT:$SOCK" <<<"$REQ" 2>&1)
mw_expect_match "(a) a non-root client cannot connect" "Permission denied" "$out"
out=$(mw_in_ns pod setpriv --reuid 65534 --regid 65534 --clear-groups "$MESHWARP" init 2>&1)
rc=$?
mw_expect_eq "(a) init as non-root fails" failed "$([ "$rc" -ne 0 ] && echo failed || echo "exit 0: $out")"
# The agent answers a non-root peer before reading anything: listen only (-u), no write race.
chmod 0711 "${SOCK%/*}"
chmod 0666 "$SOCK"
out=$(mw_in_ns pod setpriv --reuid 65534 --regid 65534 --clear-groups \
	socat -t 5 -u "UNIX-CONNECT:$SOCK" - 2>&1)
chmod 0600 "$SOCK"
chmod 0700 "${SOCK%/*}"
mw_expect_eq "(a) socket opened up by hand: the agent still refuses non-root" \
	'{"ok":false,"exit":1,"message":"enrolment is for root only"}' "$(jq -c . <<<"$out" 2>&1)"
mw_expect_eq "(a) nothing enrolled, nothing asked of the agent" "[] 0" \
	"$(enrolled) $(grep -c 'for pid' "$AGENT_LOG")"

# --- (b) a request enrols the caller's netns --------------------------------------------------
POD_NS=$(netns_of pod)
PODB_NS=$(netns_of podb)
NODE_NS=$(netns_of node)
[[ $POD_NS =~ ^[0-9]+$ && $PODB_NS =~ ^[0-9]+$ && $NODE_NS =~ ^[0-9]+$ ]] ||
	mw_die "no netns cookies: pod '$POD_NS' podb '$PODB_NS' node '$NODE_NS'"
out=$(MESHWARP_WORKLOAD=wl-a timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(b) init in pod through the agent" "0 enrolled netns $POD_NS" \
	"$? $(grep -o 'enrolled netns [0-9]*' <<<"$out")"
out=$(MESHWARP_WORKLOAD=wl-b mw_in_ns podb timeout 30 "$MESHWARP" init 2>&1)
mw_expect_eq "(b) init in podb through the agent" "0 enrolled netns $PODB_NS" \
	"$? $(grep -o 'enrolled netns [0-9]*' <<<"$out")"
mw_expect_eq "(b) the agent did both" 2 "$(grep -c 'enable for pid [0-9]*: exit 0' "$AGENT_LOG")"
mw_expect_eq "(b) enrolled: pod and podb, not the agent's netns ($NODE_NS)" \
	"$(jq -c 'sort' <<<"[$POD_NS,$PODB_NS]")" "$(enrolled)"
mw_expect_eq "(b) podb intercepted" "$SIDECAR_B" "$(mw_in_pod podb "$CONNECT" "$UPB_IP" 8088)"

# A request as large as a big configuration makes it (5000 ignored CIDRs: about 70 KB of
# environment): the agent enrols what standalone init enrols, or init says why not; it never
# dies of a signal.
BIG_IPS=$(for i in $(seq 0 19); do for j in $(seq 0 249); do printf '10.%d.%d.0/24,' $((100 + i)) "$j"; done; done)
out=$(APPMESH_EGRESS_IGNORED_IP=${BIG_IPS%,} MESHWARP_WORKLOAD=wl-c mw_in_ns podc timeout 60 "$MESHWARP" init 2>&1)
rc=$?
PODC_NS=$(netns_of podc)
got="exit $rc, $(status | jq -r --argjson ns "${PODC_NS:-0}" 'first(.workloads[] | select(.netns == $ns) | .ignored_addresses | length) // "no"') addresses"
[ "$got" == "exit 0, 5000 addresses" ] || got+=" [$(tail -n 2 <<<"$out" | tr '\n' ' ')]"
mw_expect_eq "(b) a ~70 KB request (5000 ignored CIDRs): enrolled through the agent" \
	"exit 0, 5000 addresses" "$got"
MESHWARP_STANDALONE=1 mw_in_ns podc timeout 60 "$MESHWARP" init disable >/dev/null 2>&1

# --- (c) live connections ---------------------------------------------------------------------
HOLD=$MW_TMP/hold
mw_in_pod pod "$XFER" -s "$A" -r "$B" -c -H "$HOLD" "$UP_IP" 8081 >"$MW_TMP/held1.out" 2>&1 &
H1=$!
mw_in_pod pod "$XFER" -s "$A" -r "$B" -c -H "$HOLD" "$IGN_IP" 8081 >"$MW_TMP/held2.out" 2>&1 &
H2=$!
mw_defer "touch $HOLD; wait $H1 $H2 2>/dev/null"
mw_wait_log "$MW_TMP/held1.out" '^held$' && mw_wait_log "$MW_TMP/held2.out" '^held$' ||
	mw_fail "(c) held connections" "$(cat "$MW_TMP/held1.out" "$MW_TMP/held2.out")"
conns() { mw_in_ns pod timeout 20 "$MESHWARP" conns -j "$@"; }
mw_expect_eq "(c) conns -j -w wl-a: the app's redirected connection, HAProxy's leg, the direct one" \
	"$(printf '%s\n' "wl-a direct ESTAB $IGN_IP:8081" "wl-a redirected ESTAB $UP_IP:8081" \
		"wl-a sidecar ESTAB $UP_IP:8081" | LC_ALL=C sort)" \
	"$(conns -w wl-a | jq -r '.[] | "\(.workload) \(.role) \(.state) \(.destination)"' |
		LC_ALL=C sort)"
# Live byte counters come from sock_diag's tcp_info at the moment conns runs (docs/metrics.md):
# what was acked and received, never more than was written or read; exact at close
# (test_metrics.sh).
live_ok=$(conns -w wl-a | jq -r --argjson a "$A" --argjson b "$B" \
	'[.[] | select(.sent_bytes <= $a and .received_bytes <= $b)] | length')
mw_expect_eq "(c) conns -j: live bytes never exceed what was written and read" 3 "$live_ok"
mw_expect_eq "(c) conns -j: the direct connection's sent bytes are all acked and sampled" \
	"$A" "$(conns -d "$IGN_IP" | jq -r '.[0].sent_bytes')"
mw_expect_eq "(c) conns -j -d $IGN_IP: the direct one only" "direct $IGN_IP:8081" \
	"$(conns -d "$IGN_IP" | jq -r '.[] | "\(.role) \(.destination)"')"
mw_expect_eq "(c) conns -j -w wl-b: none" 0 "$(conns -w wl-b | jq length)"
mw_expect_eq "(c) all three are pod's (netns cookie)" "[$POD_NS]" \
	"$(conns -w wl-a | jq -c '[.[].netns] | unique')"
MH=$MW_TMP/m-held.txt
scrape >"$MH"
mw_expect_eq "(c) /metrics while they are open: opened, not closed, active" \
	"opened=1 closed=0 active=1 opened=1 closed=0 active=1" \
	"$(for d in "$UP_IP" "$IGN_IP"; do
		l="source_workload=\"wl-a\",destination_service=\"$d\",destination_port=\"8081\""
		printf 'opened=%s closed=%s active=%s ' "$(val "$MH" "meshwarp_tcp_connections_opened_total{$l}")" \
			"$(val "$MH" "meshwarp_tcp_connections_closed_total{$l}")" \
			"$(val "$MH" "meshwarp_tcp_connections_active{$l}")"
	done | sed 's/ $//')"
touch "$HOLD"
wait "$H1" "$H2"
mw_expect_eq "(c) the held clients finished" "ok 1 sent=$A received=$B ok 1 sent=$A received=$B" \
	"$(grep ^ok "$MW_TMP/held1.out") $(grep ^ok "$MW_TMP/held2.out")"
for i in $(seq 50); do
	[ "$(conns -w wl-a | jq length)" == 0 ] && break
	sleep 0.1
done
mw_expect_eq "(c) after close: gone from conns" 0 "$(conns -w wl-a | jq length)"

# --- (d) SIGTERM leaves the data path -----------------------------------------------------------
mw_expect_eq "(d) $N1 redirected with the agent up" "ok $N1 sent=$((N1 * A)) received=$((N1 * B))" \
	"$(xfer_8080 "$N1")"
# Log lines so far: podb's first (1), the held ones (3), N1 app + N1 HAProxy legs.
L1=$((4 + 2 * N1))
wait_lines "$L1"
mw_expect_eq "(d) log lines before the stop" "$L1" "$(log_lines)"
M1=$MW_TMP/m1.txt
scrape >"$M1" || mw_die "scrape failed"
mw_expect_eq "(d) /metrics before the stop" \
	"opened=$N1 closed=$N1 sent=$((N1 * A)) received=$((N1 * B))" "$(row "$M1" wl-a "$UP_IP" 8080)"

stop_agent TERM
mw_expect_eq "(d) SIGTERM: exit 0" 0 "$AGENT_RC"
mw_expect_match "(d) the agent says the data path keeps running" \
	"stopping \(signal 15\): the data path keeps running" "$(cat "$AGENT_LOG")"
mw_expect_eq "(d) the socket is gone" absent "$([ -e "$SOCK" ] && echo present || echo absent)"
mw_expect_eq "(d) pins and attachments stay: loaded, every program attached" "true true" \
	"$(status | jq -r '.loaded, ((.programs | length) > 0 and all(.programs[]; .attached))' |
		paste -sd ' ')"
mw_expect_eq "(d) the workloads stay" "$(jq -c 'sort' <<<"[$POD_NS,$PODB_NS]")" "$(enrolled)"

before=$(mw_haproxy_sessions "$MW_HAPROXY_SOCK")
mw_expect_eq "(d) no agent: $N2 connections from pod" \
	"ok $N2 sent=$((N2 * A)) received=$((N2 * B))" "$(xfer_8080 "$N2")"
mw_expect_eq "(d) no agent: they went through HAProxy" "$N2" \
	"$(($(mw_haproxy_sessions "$MW_HAPROXY_SOCK") - before))"
mw_expect_eq "(d) no agent: podb still intercepted" "$SIDECAR_B" \
	"$(mw_in_pod podb "$CONNECT" "$UPB_IP" 8088)"
for i in $(seq "$((NB - 1))"); do
	mw_in_pod podb "$CONNECT" "$UPB_IP" 8088 >/dev/null
done

# init with no agent: standalone (the socket path does not exist).
gen=$(generation "$PODB_NS")
out=$(MESHWARP_WORKLOAD=wl-b mw_in_ns podb timeout 20 "$MESHWARP" -v init 2>&1)
mw_expect_eq "(d) init with no agent: exit 0, standalone" "0 enrolled netns $PODB_NS, agent: no" \
	"$? $(grep -o 'enrolled netns [0-9]*' <<<"$out"), agent: $(grep -q 'the agent at' <<<"$out" && echo yes || echo no)"
mw_expect_eq "(d) init with no agent: generation +1" "$((gen + 1))" "$(generation "$PODB_NS")"
mw_expect_eq "(d) podb still intercepted after the standalone init" "$SIDECAR_B" \
	"$(mw_in_pod podb "$CONNECT" "$UPB_IP" 8088)"

# --- (e) a new agent: the counts are all there --------------------------------------------------
start_agent --metrics-addr "127.0.0.1:$MPORT"
mw_wait_port node "$MPORT" v4 || mw_die "the second agent does not serve metrics on $MPORT"
L2=$((L1 + 2 * N2))
wait_lines "$L2"
M2=$MW_TMP/m2.txt
scrape >"$M2" || mw_die "scrape failed"
mw_expect_eq "(e) restarted: pod's totals include the $N2 made with no agent" \
	"opened=$((N1 + N2)) closed=$((N1 + N2)) sent=$(((N1 + N2) * A)) received=$(((N1 + N2) * B))" \
	"$(row "$M2" wl-a "$UP_IP" 8080)"
mw_expect_eq "(e) restarted: podb's totals (1 with the agent, $((NB + 1)) without)" \
	"opened=$((NB + 2)) closed=$((NB + 2))" \
	"$(row "$M2" wl-b "$UPB_IP" 8088 | cut -d' ' -f1,2)"
mw_expect_eq "(e) restarted: the decisions too" "$((N1 + N2 + 1)) $((NB + 2))" \
	"$(val "$M2" 'meshwarp_decisions_total{source_workload="wl-a",direction="egress",action="redirect",reason="redirect"}') $(val "$M2" 'meshwarp_decisions_total{source_workload="wl-b",direction="egress",action="redirect",reason="redirect"}')"
# podb's NB + 1 connections made while no agent ran are in the log too.
L2=$((L2 + NB + 1))
wait_lines "$L2"
mw_expect_eq "(e) the log has every close, those made with no agent included" "$L2" "$(log_lines)"
mw_expect_eq "(e) ... and by role and destination" \
	"$(printf '%s\n' "direct $IGN_IP:8081 1" "redirected $UP_IP:8080 $((N1 + N2))" \
		"redirected $UP_IP:8081 1" "sidecar $UP_IP:8080 $((N1 + N2))" "sidecar $UP_IP:8081 1" \
		"redirected $UPB_IP:8088 $((NB + 2))" | LC_ALL=C sort)" \
	"$(jq -sr 'group_by([.role, .dst]) | .[] | "\(.[0].role) \(.[0].dst) \(length)"' "$CONN_LOG" |
		LC_ALL=C sort)"

# --- (f) ring buffer overflow -------------------------------------------------------------------
lost() { val "$1" 'meshwarp_datapath_errors_total{kind="events_lost"}'; }
mw_expect_eq "(f) no event lost so far" 0 "$(lost "$M2")"
kill -STOP "$AGENT"
mw_defer "kill -CONT $AGENT 2>/dev/null"
mw_expect_eq "(f) agent stopped: $BIG short connections" "ok $BIG sent=$BIG received=$BIG" \
	"$(mw_in_pod pod "$XFER" -n "$BIG" -s 1 -r 1 "$UP_IP" 9000)"
kill -CONT "$AGENT"
M3=$MW_TMP/m3.txt
for i in $(seq 300); do
	scrape >"$M3" && n=$(lost "$M3") && [ "$n" != absent ] && [ "$n" -gt 0 ] &&
		[ "$(($(log_lines) - L2 + n))" -ge "$BIG" ] && break
	sleep 0.1
done
n=$(lost "$M3")
mw_expect_eq "(f) events lost are counted" yes "$([ "$n" != absent ] && [ "$n" -gt 0 ] && echo yes || echo "no: $n")"
mw_expect_eq "(f) log lines + lost events = connections closed" "$BIG" "$(($(log_lines) - L2 + n))"
mw_expect_eq "(f) the totals stay exact" "opened=$BIG closed=$BIG sent=$BIG received=$BIG" \
	"$(row "$M3" wl-a "$UP_IP" 9000)"

# --- (g) a dead agent's stale socket ----------------------------------------------------------
stop_agent KILL
mw_expect_eq "(g) SIGKILL" 137 "$AGENT_RC"
mw_expect_eq "(g) the socket file stays behind" socket "$(stat -c %F "$SOCK" 2>&1)"
gen=$(generation "$PODB_NS")
out=$(MESHWARP_WORKLOAD=wl-b timeout 20 nsenter --net="/run/netns/$(mw_ns podb)" "$MESHWARP" -v init 2>&1)
mw_expect_eq "(g) init with a stale socket: exit 0, standalone" \
	"0 enrolled netns $PODB_NS, agent: no" \
	"$? $(grep -o 'enrolled netns [0-9]*' <<<"$out"), agent: $(grep -q 'the agent at' <<<"$out" && echo yes || echo no)"
mw_expect_eq "(g) generation +1" "$((gen + 1))" "$(generation "$PODB_NS")"

# --- (h) --cleanup ------------------------------------------------------------------------------
# The default metrics address (127.0.0.1:9101), in node's own loopback.
start_agent --cleanup
mw_expect_match "(h) default metrics address" "metrics on http://127.0.0.1:9101/metrics" \
	"$(cat "$AGENT_LOG")"
mw_wait_port node 9101 v4 || mw_fail "(h) default metrics address" "nothing on 9101"
M4=$MW_TMP/m4.txt
scrape 9101 >"$M4"
mw_expect_eq "(h) a third agent: the same totals" \
	"opened=$((N1 + N2)) closed=$((N1 + N2)) sent=$(((N1 + N2) * A)) received=$(((N1 + N2) * B)) opened=$BIG" \
	"$(row "$M4" wl-a "$UP_IP" 8080) $(row "$M4" wl-a "$UP_IP" 9000 | cut -d' ' -f1)"
mw_expect_eq "(h) podb intercepted while it runs" "$SIDECAR_B" \
	"$(mw_in_pod podb "$CONNECT" "$UPB_IP" 8088)"
stop_agent TERM
mw_expect_eq "(h) SIGTERM with --cleanup: exit 0" 0 "$AGENT_RC"
mw_expect_eq "(h) the pins are gone" "absent" \
	"$([ -e "$MW_PIN" ] && echo "present: $(ls -A "$MW_PIN" | paste -sd ' ')" || echo absent)"
timeout 20 "$MESHWARP" status -j >/dev/null 2>&1
mw_expect_eq "(h) status: nothing loaded (exit 3)" 3 "$?"
mw_expect_eq "(h) nothing attached to the test cgroup" 0 \
	"$(bpftool cgroup show "$MW_CG" 2>/dev/null | grep -cE '^ *[0-9]+ ')"
mw_expect_eq "(h) podb goes direct" "$DIRECT_B" "$(mw_in_pod podb "$CONNECT" "$UPB_IP" 8088)"

mw_test_end
