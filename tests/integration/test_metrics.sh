#!/usr/bin/env bash
# The agent's metrics, end to end, with exact counts: a workload "wl-a" enrolled through the
# agent's socket, HAProxy (uid 1337) as its egress sidecar, mwt-sink upstreams whose byte counts
# are known (each reads exactly A bytes and answers exactly B), and mwt-xfer clients that write A
# and read B. The same numbers must come out of every exit:
#   /metrics (Prometheus text): per (workload, service, port) opened/closed/active, application
#     bytes both ways (no SYN, no FIN), connect failures by reason, resets, rtt and duration
#     histograms whose _count is the closed count; decisions per reason; no datapath error;
#     `promtool check metrics` clean; gzip when asked (Content-Encoding: gzip), plain otherwise
#   statsd (DogStatsD datagrams to a UDP listener): the counter increments add up to the same
#     totals, every datagram within the 1400-byte MTU
#   the connection log: one JSON line per closed connection (HAProxy's own legs included, as
#     role "sidecar"), with each connection's bytes and outcome
#   a real Prometheus server scraping the agent every second: its query API answers the same
# Traffic (A=123456 B=654321 to "echo", a service name from --services):
#   3 redirected to echo:8080, upstream closes first    3 redirected to echo:8090, client first
#   2 direct to the ignored IP :8081 (1000/20000)        2 direct to the ignored IP :8091, client first
#   2 direct to the ignored IPv6 address :8081           1 redirected to a port nobody listens on:
#                                                          HAProxy's own connects fail (and retry)
#   1 reset (the upstream accepts, then SO_LINGER 0)     1 refused (a closed port of the ignored IP)
#   1 connect timeout (SYNs dropped, tcp_syn_retries 1)  1 connect the client gave up on ("other")
#   3000 short ones (10/20 bytes) to the ignored port 9000
#
#   pod 10.250.21.1 fd00:250:21::1 ==veth== up 10.250.21.2 fd00:250:21::2
#                                              (+ 10.250.21.9, fd00:250:21::9: the ignored IPs)
#   node: the agent (--no-cg), the statsd listener, Prometheus; its loopback is the test's own
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin metrics

mw_require mwt-sink mwt-xfer mwt-udp -- haproxy curl jq promtool prometheus gzip
XFER=$MW_TOOLS/mwt-xfer

POD_IP=10.250.21.1
UP_IP=10.250.21.2
IGN_IP=10.250.21.9
POD_IP6=fd00:250:21::1
UP_IP6=fd00:250:21::2
IGN_IP6=fd00:250:21::9
WL=wl-a
A=123456 B=654321      # redirected, per connection
A2=1000 B2=20000       # direct, per connection
A3=10 B3=20            # the short ones
K=3 L=2 L6=2 N=3000
# Loopback ports of the node namespace: private to this run, derived from its id anyway.
BASE=$((20000 + 16#${MW_ID#mw} % 10000 * 3))
MPORT=$BASE SPORT=$((BASE + 1)) PPORT=$((BASE + 2))

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=9000
export APPMESH_EGRESS_IGNORED_IP=$IGN_IP,$IGN_IP6
export APPMESH_ENABLE_IPV6=1

mw_netns pod
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP" "$POD_IP6" "$UP_IP6"
mw_in_ns up ip addr add "$IGN_IP/24" dev "$MW_VETH2" || mw_die "address $IGN_IP in up failed"
mw_in_ns up ip addr add "$IGN_IP6/64" dev "$MW_VETH2" nodad || mw_die "address $IGN_IP6 failed"
# Connect timeouts: SYNs to 8084 and 8085 are dropped; the kernel gives up after one retry (3 s).
mw_in_ns up iptables -w -A INPUT -p tcp --dport 8084:8085 -j DROP || mw_die "DROP rule in up"
mw_in_ns pod sysctl -qw net.ipv4.tcp_syn_retries=1 || mw_die "tcp_syn_retries in pod"

# --- peers ------------------------------------------------------------------------------------
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8080 -r "$A" -w "$B"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8090 -r "$A" -w "$B" -e
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8081 -r "$A2" -w "$B2"
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8091 -r "$A2" -w "$B2" -e
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 8082 -R
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 9000 -r "$A3" -w "$B3"
for p in 8080 8090 8081 8091 8082 9000; do
	mw_wait_port up "$p" || mw_die "mwt-sink on port $p did not listen"
done
mw_haproxy pod 15001
mw_wait_port pod 15001 || mw_die "HAProxy did not listen"

STATSD_FILE=$MW_TMP/statsd.txt
mw_spawn node --no-cg "$MW_TOOLS/mwt-udp" -p "$SPORT" -o "$STATSD_FILE"
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-udp did not start"

cat >"$MW_TMP/services.json" <<EOF
{ "services": [ { "name": "echo", "addresses": ["$UP_IP/32"], "ports": [8080, 8090] } ] }
EOF
export MESHWARP_AGENT_SOCKET=$MW_TMP/agent.sock
CONN_LOG=$MW_TMP/conns.jsonl
mw_spawn node --no-cg "$MESHWARP" agent --metrics-addr "127.0.0.1:$MPORT" \
	--statsd "127.0.0.1:$SPORT" --statsd-interval 1 --conn-log "$CONN_LOG" \
	--services "$MW_TMP/services.json"
AGENT_LOG=$MW_LOG
mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || mw_die "the agent did not open its socket"
[ -S "$MESHWARP_AGENT_SOCKET" ] || mw_die "no socket at $MESHWARP_AGENT_SOCKET"
mw_wait_port node "$MPORT" v4 || mw_die "the agent does not serve metrics on $MPORT"

out=$(MESHWARP_WORKLOAD=$WL timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init through the agent exits 0" 0 $? || mw_die "init failed: $out"
mw_expect_match "init: enrolled" "enrolled netns [0-9]+: egress to port 15001" "$out"
mw_expect_match "the agent did the enrolment" "enable for pid [0-9]+: exit 0" "$(cat "$AGENT_LOG")"

# --- traffic ----------------------------------------------------------------------------------
xfer() { mw_in_pod pod "$XFER" "$@"; }
mw_expect_eq "$K redirected to echo:8080 (upstream closes first)" \
	"ok $K sent=$((K * A)) received=$((K * B))" "$(xfer -n "$K" -s "$A" -r "$B" "$UP_IP" 8080)"
mw_expect_eq "$K redirected to echo:8090 (client closes first)" \
	"ok $K sent=$((K * A)) received=$((K * B))" "$(xfer -n "$K" -s "$A" -r "$B" -c "$UP_IP" 8090)"
mw_expect_eq "$L direct to $IGN_IP:8081 (upstream closes first)" \
	"ok $L sent=$((L * A2)) received=$((L * B2))" "$(xfer -n "$L" -s "$A2" -r "$B2" "$IGN_IP" 8081)"
mw_expect_eq "$L direct to $IGN_IP:8091 (client closes first)" \
	"ok $L sent=$((L * A2)) received=$((L * B2))" \
	"$(xfer -n "$L" -s "$A2" -r "$B2" -c "$IGN_IP" 8091)"
mw_expect_eq "reset by the upstream" "ERR ECONNRESET (connection 1)" "$(xfer "$IGN_IP" 8082)"
mw_expect_eq "refused" "ERR ECONNREFUSED (connection 1)" "$(xfer "$IGN_IP" 8083)"
mw_expect_eq "connect timeout" "ERR ETIMEDOUT (connection 1)" "$(xfer -t 30000 "$IGN_IP" 8084)"
mw_expect_eq "connect the client gave up on" "ERR ETIMEDOUT (connection 1)" \
	"$(xfer -t 300 "$IGN_IP" 8085)"
mw_expect_eq "$L6 direct over IPv6 to [$IGN_IP6]:8081" \
	"ok $L6 sent=$((L6 * A2)) received=$((L6 * B2))" "$(xfer -n "$L6" -s "$A2" -r "$B2" "$IGN_IP6" 8081)"
# HAProxy accepts, then fails to reach the upstream: a connect and its retries, each refused.
mw_expect_eq "redirected to a port nobody listens on: HAProxy closes" "ok 1 sent=0 received=0" \
	"$(xfer -t 30000 "$UP_IP" 8089)"
HF=$(echo "show stat" | socat -t 2 - "UNIX-CONNECT:$MW_HAPROXY_SOCK" 2>/dev/null |
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "econ") e = i; if ($i == "wretr") w = i }; next }
		 $1 == "orig" && $2 == "BACKEND" { print $e + $w }')
[[ $HF =~ ^[1-9][0-9]*$ ]] || mw_die "HAProxy's failed connects (econ + wretr): '$HF'"
mw_expect_eq "$N short connections to the ignored port" \
	"ok $N sent=$((N * A3)) received=$((N * B3))" "$(xfer -n "$N" -s "$A3" -r "$B3" "$UP_IP" 9000)"

# Every close is one line in the log, written after the kernel counted it: once all lines are
# there, the totals are final (the last client's socket may close after the client exited).
LINES=$((2 * K + 2 * K + 2 * L + L6 + 1 + HF + 1 + 1 + 1 + 1 + N))    # HAProxy's legs too
for i in $(seq 150); do
	[ "$(wc -l <"$CONN_LOG")" -ge "$LINES" ] && break
	sleep 0.1
done
mw_expect_eq "connection log: one line per closed connection" "$LINES" "$(wc -l <"$CONN_LOG")"

# --- /metrics -------------------------------------------------------------------------------
URL=http://127.0.0.1:$MPORT/metrics
M=$MW_TMP/metrics.txt
mw_in_ns node curl -sf --max-time 10 -o "$M" "$URL" || mw_die "scraping $URL failed"

# val SERIES: the value of the exact series (name{labels}) in $M, "absent" if none.
val() {
	MW_K="$1" awk '$1 == ENVIRON["MW_K"] { print $2; f = 1 } END { if (!f) print "absent" }' "$M"
}
lab() {
	printf 'source_workload="%s",destination_service="%s",destination_port="%s"' "$WL" "$1" "$2"
}
# row SERVICE PORT: every number of a row, as one line.
row() {
	local l p="meshwarp_tcp_"
	l=$(lab "$1" "$2")
	printf 'opened=%s closed=%s active=%s sent=%s received=%s refused=%s timeout=%s other=%s ' \
		"$(val "${p}connections_opened_total{$l}")" "$(val "${p}connections_closed_total{$l}")" \
		"$(val "${p}connections_active{$l}")" "$(val "${p}sent_bytes_total{$l}")" \
		"$(val "${p}received_bytes_total{$l}")" \
		"$(val "${p}connect_failures_total{$l,reason=\"refused\"}")" \
		"$(val "${p}connect_failures_total{$l,reason=\"timeout\"}")" \
		"$(val "${p}connect_failures_total{$l,reason=\"other\"}")"
	printf 'resets=%s rtt_count=%s rtt_inf=%s duration_count=%s duration_inf=%s\n' \
		"$(val "${p}resets_total{$l}")" "$(val "${p}rtt_seconds_count{$l}")" \
		"$(val "${p}rtt_seconds_bucket{$l,le=\"+Inf\"}")" \
		"$(val "${p}connection_duration_seconds_count{$l}")" \
		"$(val "${p}connection_duration_seconds_bucket{$l,le=\"+Inf\"}")"
}
# want OPENED SENT RECEIVED REFUSED RESETS (closed, counts and +Inf buckets = opened)
want() {
	printf 'opened=%s closed=%s active=0 sent=%s received=%s refused=%s timeout=0 other=0 ' \
		"$1" "$1" "$2" "$3" "$4"
	printf 'resets=%s rtt_count=%s rtt_inf=%s duration_count=%s duration_inf=%s\n' \
		"$5" "$1" "$1" "$1" "$1"
}

mw_expect_eq "metrics: echo:8080, $K redirected, upstream closed first" \
	"$(want "$K" $((K * A)) $((K * B)) 0 0)" "$(row echo 8080)"
mw_expect_eq "metrics: echo:8090, $K redirected, client closed first" \
	"$(want "$K" $((K * A)) $((K * B)) 0 0)" "$(row echo 8090)"
mw_expect_eq "metrics: $IGN_IP:8081, $L direct" \
	"$(want "$L" $((L * A2)) $((L * B2)) 0 0)" "$(row "$IGN_IP" 8081)"
mw_expect_eq "metrics: $IGN_IP:8091, $L direct, client closed first" \
	"$(want "$L" $((L * A2)) $((L * B2)) 0 0)" "$(row "$IGN_IP" 8091)"
mw_expect_eq "metrics: $IGN_IP:8082, one reset" "$(want 1 0 0 0 1)" "$(row "$IGN_IP" 8082)"
nofail="opened=0 closed=0 active=0 sent=0 received=0"
nohist="resets=0 rtt_count=0 rtt_inf=0 duration_count=0 duration_inf=0"
mw_expect_eq "metrics: $IGN_IP:8083, one refused" \
	"$nofail refused=1 timeout=0 other=0 $nohist" "$(row "$IGN_IP" 8083)"
mw_expect_eq "metrics: $IGN_IP:8084, one timeout" \
	"$nofail refused=0 timeout=1 other=0 $nohist" "$(row "$IGN_IP" 8084)"
mw_expect_eq "metrics: $IGN_IP:8085, one given up (other)" \
	"$nofail refused=0 timeout=0 other=1 $nohist" "$(row "$IGN_IP" 8085)"
mw_expect_eq "metrics: $IGN_IP6:8081, $L6 direct over IPv6" \
	"$(want "$L6" $((L6 * A2)) $((L6 * B2)) 0 0)" "$(row "$IGN_IP6" 8081)"
mw_expect_eq "metrics: $UP_IP:8089, the app's connection and HAProxy's $HF refused connects" \
	"$(want 1 0 0 "$HF" 0)" "$(row "$UP_IP" 8089)"
mw_expect_eq "metrics: $UP_IP:9000 (no service: the name map covers 8080 and 8090), $N short" \
	"$(want "$N" $((N * A3)) $((N * B3)) 0 0)" "$(row "$UP_IP" 9000)"
mw_expect_eq "metrics: these rows and no other (HAProxy's legs are not rows)" \
	"$(printf '%s\n' "echo 8080" "echo 8090" "$IGN_IP 8081" "$IGN_IP 8082" "$IGN_IP 8083" \
		"$IGN_IP 8084" "$IGN_IP 8085" "$IGN_IP 8091" "$IGN_IP6 8081" "$UP_IP 8089" \
		"$UP_IP 9000" | LC_ALL=C sort)" \
	"$(sed -n 's/^meshwarp_tcp_connections_opened_total{source_workload="\([^"]*\)",destination_service="\([^"]*\)",destination_port="\([^"]*\)"} .*/\1 \2 \3/p' "$M" |
		sed "s/^$WL //" | LC_ALL=C sort)"

# decisions: redirect and HAProxy's uid bypass per redirected connection; the ignored IP for
# the direct, reset and refused ones; the ignored port for the short ones.
# dec DIR/REASON...: "DIR/REASON=VALUE ..." from $M ("absent" for a missing series).
dec() {
	local dr s=""
	for dr in "$@"; do
		s+="$dr=$(awk -v w="$WL" -v d="${dr%/*}" -v r="${dr#*/}" '
			index($1, "meshwarp_decisions_total{source_workload=\"" w "\",direction=\"" d "\",") == 1 &&
			index($1, ",reason=\"" r "\"}") { print $2; f = 1 }
			END { if (!f) print "absent" }' "$M") "
	done
	echo "${s% }"
}
mw_expect_eq "decisions, every reason of both directions" \
	"egress/redirect=$((2 * K + 1)) egress/local=0 egress/uid=$((2 * K + HF)) egress/gid=0 egress/port=$N egress/addr=$((2 * L + L6 + 4)) egress/no_ipv6=0 egress/disabled=0 ingress/redirect=0 ingress/local=0 ingress/port=0 ingress/no_ipv6=0 ingress/disabled=0 ingress/no_listener_open=0 ingress/no_listener_refused=0" \
	"$(dec egress/redirect egress/local egress/uid egress/gid egress/port egress/addr \
		egress/no_ipv6 egress/disabled ingress/redirect ingress/local ingress/port \
		ingress/no_ipv6 ingress/disabled ingress/no_listener_open ingress/no_listener_refused)"
mw_expect_eq "decisions: no other reason counted" \
	"egress/addr=$((2 * L + L6 + 4)) egress/port=$N egress/redirect=$((2 * K + 1)) egress/uid=$((2 * K + HF))" \
	"$(sed -n "s/^meshwarp_decisions_total{source_workload=\"$WL\",direction=\"\([a-z]*\)\",action=\"[a-z]*\",reason=\"\([a-z_]*\)\"} \([0-9]*\)$/\1\/\2=\3/p" "$M" |
		grep -v '=0$' | LC_ALL=C sort | paste -sd ' ')"
mw_expect_eq "decisions: redirect action label" "$((2 * K + 1))" \
	"$(val "meshwarp_decisions_total{source_workload=\"$WL\",direction=\"egress\",action=\"redirect\",reason=\"redirect\"}")"
mw_expect_eq "datapath errors: all zero" "origdst_table_full=0 sk_storage=0 listener_register=0 conn_table_full=0 agg_table_full=0 events_lost=0" \
	"$(for k in origdst_table_full sk_storage listener_register conn_table_full agg_table_full events_lost; do
		printf '%s=%s ' "$k" "$(val "meshwarp_datapath_errors_total{kind=\"$k\"}")"; done | sed 's/ $//')"

out=$(promtool check metrics <"$M" 2>&1)
mw_expect_eq "promtool check metrics: exit 0, no complaint" "0 []" "$? [$out]"

# --- gzip ---------------------------------------------------------------------------------------
mw_in_ns node curl -s --max-time 10 -D "$MW_TMP/gz.hdr" -o "$MW_TMP/gz.body" \
	-H 'Accept-Encoding: gzip' "$URL"
mw_expect_match "gzip asked: Content-Encoding: gzip" $'[Cc]ontent-[Ee]ncoding: gzip\r' \
	"$(cat "$MW_TMP/gz.hdr")"
mw_expect_eq "gzip asked: the body is gzip of the same text" "$(cat "$M")" \
	"$(gzip -dc <"$MW_TMP/gz.body" 2>&1)"
mw_expect_eq "curl --compressed: the same text" "$(cat "$M")" \
	"$(mw_in_ns node curl -s --max-time 10 --compressed "$URL")"
mw_in_ns node curl -s --max-time 10 -D "$MW_TMP/plain.hdr" -o /dev/null "$URL"
mw_expect_eq "gzip not asked: no Content-Encoding" "" \
	"$(grep -i '^content-encoding' "$MW_TMP/plain.hdr")"
mw_expect_match "Content-Type: text format 0.0.4" 'text/plain; version=0.0.4' \
	"$(cat "$MW_TMP/plain.hdr")"
mw_expect_eq "another path: 404" 404 \
	"$(mw_in_ns node curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")"

# --- statsd -----------------------------------------------------------------------------------
# Prometheus counters as statsd would name them ("meshwarp.tcp.sent_bytes|tag:v,... value"),
# zeros left out (statsd sends no zero increment); tag values have , | # : replaced by _ (as
# documented: "fd00::9" is sent as "fd00__9"). Label values here hold no quote or backslash.
prom_as_statsd() {
	awk '/^# TYPE / { type[$3] = $4; next } /^#/ { next }
	{
		i = index($1, "{"); name = substr($1, 1, i - 1)
		if (type[name] != "counter" || $2 == 0) next
		n = split(substr($1, i + 1, length($1) - i - 2), kv, "\",")
		lbl = ""
		for (j = 1; j <= n; j++) {
			k = substr(kv[j], 1, index(kv[j], "=") - 1)
			v = substr(kv[j], index(kv[j], "=") + 2)
			gsub(/[,|#:]/, "_", v)
			lbl = lbl (j > 1 ? "," : "") k ":" v
		}
		sub(/_total$/, "", name); sub(/^meshwarp_tcp_/, "meshwarp.tcp.", name)
		sub(/^meshwarp_/, "meshwarp.", name)
		print name "|" lbl " " $2
	}' "$1" | LC_ALL=C sort
}
# The sum of every counter line received, by name and tags.
statsd_sums() {
	awk -F'|' '$2 == "c" {
		i = index($1, ":"); k = substr($1, 1, i - 1) "|" substr($3, 2)
		s[k] += substr($1, i + 1)
	} END { for (k in s) if (s[k]) printf "%s %d\n", k, s[k] }' "$STATSD_FILE" | LC_ALL=C sort
}
want_statsd=$(prom_as_statsd "$M")
for i in $(seq 100); do
	[ "$(statsd_sums)" == "$want_statsd" ] && break
	sleep 0.1
done
mw_expect_eq "statsd: counter increments add up to the Prometheus totals" "$want_statsd" \
	"$(statsd_sums)"
mw_expect_eq "statsd: the redirected bytes to echo:8080" \
	"meshwarp.tcp.sent_bytes|source_workload:$WL,destination_service:echo,destination_port:8080 $((K * A))" \
	"$(statsd_sums | grep -F "meshwarp.tcp.sent_bytes|source_workload:$WL,destination_service:echo,destination_port:8080 ")"
mw_expect_eq "statsd: the refused connect" \
	"meshwarp.tcp.connect_failures|source_workload:$WL,destination_service:$IGN_IP,destination_port:8083,reason:refused 1" \
	"$(statsd_sums | grep -F 'meshwarp.tcp.connect_failures|' | grep -F "destination_port:8083,")"
mw_expect_eq "statsd: a connections_active gauge for each of the 11 rows, the last one 0" "rows=11" \
	"$(awk -F'|' '$2 == "g" && index($1, "meshwarp.tcp.connections_active:") == 1 {
		i = index($1, ":"); last[$3] = substr($1, i + 1) }
		END { n = 0; for (k in last) { n++; if (last[k] != 0) print k " " last[k] }
		      print "rows=" n }' "$STATSD_FILE")"
mw_expect_eq "statsd: every datagram within 1400 bytes" "ok" \
	"$(awk '$0 == "--" { if (n > 1400) { print "datagram of " n " bytes"; bad = 1 }; n = 0; next }
		{ n += length($0) + (n ? 1 : 0) } END { if (!bad) print "ok" }' "$STATSD_FILE")"

# --- the connection log ---------------------------------------------------------------------------
jsum=$(jq -sr 'group_by([.role, .dst, .outcome]) | .[] |
	"\(.[0].role) \(.[0].dst) \(.[0].destination_service) \(.[0].outcome) n=\(length) " +
	"sent=\(map(.sent_bytes) | unique) received=\(map(.received_bytes) | unique)"' \
	"$CONN_LOG" 2>&1 | LC_ALL=C sort)
mw_expect_eq "connection log: per role, destination and outcome, each connection's bytes" \
	"$(LC_ALL=C sort <<EOF
redirected $UP_IP:8080 echo normal n=$K sent=[$A] received=[$B]
redirected $UP_IP:8090 echo normal n=$K sent=[$A] received=[$B]
sidecar $UP_IP:8080 echo normal n=$K sent=[$A] received=[$B]
sidecar $UP_IP:8090 echo normal n=$K sent=[$A] received=[$B]
direct $IGN_IP:8081 $IGN_IP normal n=$L sent=[$A2] received=[$B2]
direct $IGN_IP:8091 $IGN_IP normal n=$L sent=[$A2] received=[$B2]
direct $IGN_IP:8082 $IGN_IP reset n=1 sent=[0] received=[0]
direct $IGN_IP:8083 $IGN_IP refused n=1 sent=[0] received=[0]
direct $IGN_IP:8084 $IGN_IP timeout n=1 sent=[0] received=[0]
direct $IGN_IP:8085 $IGN_IP failed n=1 sent=[0] received=[0]
direct [$IGN_IP6]:8081 $IGN_IP6 normal n=$L6 sent=[$A2] received=[$B2]
redirected $UP_IP:8089 $UP_IP normal n=1 sent=[0] received=[0]
sidecar $UP_IP:8089 $UP_IP refused n=$HF sent=[0] received=[0]
direct $UP_IP:9000 $UP_IP normal n=$N sent=[$A3] received=[$B3]
EOF
)" "$jsum"
mw_expect_eq "connection log: every line names the workload, and cookies are unique" \
	"[\"$WL\"] $LINES" \
	"$(jq -sc 'map(.source_workload) | unique' "$CONN_LOG") $(jq -r .cookie "$CONN_LOG" | sort -u | wc -l)"

# Nothing is left in the live table once everything closed.
for i in $(seq 50); do
	[ "$(mw_in_ns pod timeout 20 "$MESHWARP" conns -j -w "$WL" | jq length)" == 0 ] && break
	sleep 0.1
done
mw_expect_eq "meshwarp conns: no live connection left" 0 \
	"$(mw_in_ns pod timeout 20 "$MESHWARP" conns -j -w "$WL" | jq length)"

# --- a real Prometheus server -------------------------------------------------------------------
mkdir -p "$MW_TMP/prom"
cat >"$MW_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshwarp
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
mw_spawn node --no-cg prometheus --config.file="$MW_TMP/prometheus.yml" \
	--storage.tsdb.path="$MW_TMP/prom" --web.listen-address="127.0.0.1:$PPORT" \
	--log.level=warn
# query PROMQL: the value of a one-sample answer, "none" for an empty one.
query() {
	mw_in_ns node curl -s --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null |
		jq -r 'if .status != "success" then "error" elif (.data.result | length) == 0
			then "none" else (.data.result | map(.value[1]) | join(",")) end' 2>/dev/null
}
OPENED=$((2 * K + 2 * L + L6 + 1 + 1 + N))
Q_ECHO="meshwarp_tcp_connections_opened_total{job=\"meshwarp\",source_workload=\"$WL\",destination_service=\"echo\",destination_port=\"8080\"}"
for i in $(seq 300); do
	[ "$(query "$Q_ECHO")" == "$K" ] && [ "$(query 'sum(meshwarp_tcp_connections_opened_total)')" == "$OPENED" ] && break
	sleep 0.1
done
mw_expect_eq "Prometheus: the target is up" 1 "$(query 'up{job="meshwarp"}')"
mw_expect_eq "Prometheus: opened_total for echo:8080" "$K" "$(query "$Q_ECHO")"
mw_expect_eq "Prometheus: opened_total, summed over every row" "$OPENED" \
	"$(query 'sum(meshwarp_tcp_connections_opened_total)')"
mw_expect_eq "Prometheus: the same as /metrics for sent bytes, $IGN_IP:8081" \
	"$(val "meshwarp_tcp_sent_bytes_total{$(lab "$IGN_IP" 8081)}")" \
	"$(query "meshwarp_tcp_sent_bytes_total{destination_service=\"$IGN_IP\",destination_port=\"8081\"}")"
mw_expect_eq "Prometheus: histogram count of the short connections" "$N" \
	"$(query "meshwarp_tcp_connection_duration_seconds_count{destination_port=\"9000\"}")"

mw_test_end
