#!/usr/bin/env bash
# The local shortcut (docs/shortcut.md) with HAProxy as the sidecar and real byte streams: every
# byte that arrives is compared with what was sent (mwt-stream: seeded generators, both ways at
# once), nothing may stall (mwt-stream gives up after 20 s without progress), and the counters
# stay exact. Shapes: hundreds of MB both ways, many connections at once, half-close, 7-byte
# and 1 MiB writes, a slow reader (the connection leaves the shortcut for the budget and the
# writer is throttled by TCP), a reader that sizes its reads with FIONREAD the way nginx does
# (within the budget, and falling behind it),
# the workload's shortcut turned off under a live connection, a sidecar sockops never sees (no
# peer: TCP), and another sockmap user on the host (refused unless MESHWARP_SHORTCUT=force).
#
#   pod 10.250.41.1 ==veth== up 10.250.41.2 (mwt-stream servers, mwt-sink)
#   pod2 10.250.42.1 ==veth== up 10.250.42.2 (a sidecar outside the test cgroup)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin shortcut
# Every connection here must pair, and many reuse a destination after one that streamed: no
# holds until the section that tests them. Host-wide, on this test's own pins.
export MESHWARP_SHORTCUT_HOLD=0

mw_require mwt-stream mwt-xfer mwt-sink -- haproxy jq bpftool
STREAM=$MW_TOOLS/mwt-stream
POD_IP=10.250.41.1
UP_IP=10.250.41.2
BIG=200000000		# 200 MB each way
MIB=1048576

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=
export APPMESH_ENABLE_IPV6=0

mw_netns pod
mw_netns up
mw_veth pod "$POD_IP" up "$UP_IP"

# --- upstreams: one mwt-stream server per shape (each side applies its own options) -----------
srv() {	# PORT OPTIONS...
	local port=$1
	shift
	mw_spawn up --no-cg "$STREAM" -l "$port" -t 20000 "$@"
	mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-stream on $port did not start"
}
srv 9001 -s "$BIG" -r "$BIG"			# big, both ways
srv 9002 -s $((2 * MIB)) -r $((2 * MIB))	# many connections
srv 9003 -s $((20 * MIB)) -r $((20 * MIB)) -H	# half-close
srv 9004 -s $((3 * MIB)) -r $((3 * MIB)) -w 7	# small writes (upstream side too)
srv 9005 -s $((64 * MIB)) -r $((64 * MIB)) -w $MIB	# 1 MiB writes
srv 9006 -s $((64 * MIB))			# to a slow reader
srv 9007 -s 900000 -r 900000 -w 1000		# under the budget: FIONREAD reads
srv 9008 -s 800000 -r 800000			# turned off under a live connection
srv 9009 -s $((32 * MIB))			# to a FIONREAD reader falling behind
srv 9011 -r $((4 * MIB))			# uploads: one way, nothing back
srv 9012 -s 1000 -r 1000			# request and answer
srv 9013 -s 1000 -r 1000			# the same, for the short-run count
mw_spawn up --no-cg "$MW_TOOLS/mwt-sink" -p 9010 -r 300000 -w 700000
mw_wait_port up 9010 || mw_die "mwt-sink did not listen"

# --- the sidecar: HAProxy as in lib.sh (SO_ORIGINAL_DST), with timeouts a slow reader fits in ---
MW_HAPROXY_TIMEOUT=60s MW_HAPROXY_MAXCONN=1024 mw_haproxy pod 15001
mw_wait_port pod 15001 v4 || mw_die "HAProxy did not listen"

# --- enrolment --------------------------------------------------------------------------------
st() { mw_in_ns pod "$MESHWARP" status -j; }
out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init without MESHWARP_SHORTCUT: exits 0" 0 $? || mw_die "init failed: $out"
mw_expect_eq "off by default" "false off" \
	"$(st | jq -r '.workloads[] | select(.current) | "\(.shortcut) \(.shortcut_mode)"')"
mw_expect_eq "status: sk_msg attached, ready" "true true" \
	"$(st | jq -r '.shortcut | "\(.ready) \(.sk_msg_prog_id > 0)"')"

MODE=1
if [ "$(st | jq -r .shortcut.others_on_host)" == true ]; then
	# Not this test's doing: someone else's sockmap user runs on this host. Say so and force.
	echo "# other sockops/sk_msg/sockmap users on this host: $(st | jq -c '[.shortcut.host_users[] | select(.meshwarp | not)]'); using MESHWARP_SHORTCUT=force"
	MODE=force
fi
out=$(MESHWARP_SHORTCUT=$MODE ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init with MESHWARP_SHORTCUT=$MODE: exits 0" 0 $? || mw_die "init failed: $out"
mw_expect_eq "status: the workload has the shortcut" "true" \
	"$(st | jq -r '.workloads[] | select(.current) | .shortcut')" || mw_die "no shortcut"
NETNS=$(st | jq -r .current_netns)

# ev NAME: a shortcut event counter
ev() { st | jq -r ".shortcut.events.$1"; }
# moved NAME BEFORE: how much it moved since
moved() { echo $(($(ev "$1") - $2)); }
stream() { mw_in_pod pod "$STREAM" -t 20000 "$@"; }

# --- hundreds of MB both ways -----------------------------------------------------------------
p0=$(ev paired) b0=$(ev bytes)
mw_expect_eq "200 MB each way, one connection: every byte as sent" \
	"ok 1 sent=$BIG received=$BIG" "$(stream -s "$BIG" -r "$BIG" "$UP_IP" 9001)"
mw_expect_eq "  it paired" 1 "$(moved paired "$p0")"
mw_expect_match "  the shortcut carried bytes of it" '^[1-9][0-9]*$' "$(moved bytes "$b0")"

# --- many connections at once ------------------------------------------------------------------
# A connection that did not pair stayed on TCP, and says why: its app wrote before the sidecar's
# socket joined, or one socket could not join.
unpaired() { echo $(($(ev unpaired) + $(ev insert_errors) + $(ev table_full))); }
p0=$(ev paired) b0=$(ev bytes) u0=$(unpaired)
mw_expect_eq "100 connections, 40 at once, 2 MiB each way each" \
	"ok 100 sent=$((100 * 2 * MIB)) received=$((100 * 2 * MIB))" \
	"$(stream -c 40 -n 100 -s $((2 * MIB)) -r $((2 * MIB)) "$UP_IP" 9002)"
np=$(moved paired "$p0")
mw_expect_eq "  each paired, or stayed on TCP and was counted why" 100 $((np + $(unpaired) - u0))
mw_expect_match "  most paired ($np)" '^([5-9][0-9]|100)$' "$np"
mw_expect_match "  the shortcut carried bytes" '^[1-9][0-9]*$' "$(moved bytes "$b0")"

# --- half-close --------------------------------------------------------------------------------
mw_expect_eq "half-close both ways (shutdown SHUT_WR after sending, keep reading)" \
	"ok 1 sent=$((20 * MIB)) received=$((20 * MIB))" \
	"$(stream -H -s $((20 * MIB)) -r $((20 * MIB)) "$UP_IP" 9003)"

# --- small and large writes --------------------------------------------------------------------
mw_expect_eq "7-byte writes, 3 MiB each way" "ok 1 sent=$((3 * MIB)) received=$((3 * MIB))" \
	"$(stream -w 7 -s $((3 * MIB)) -r $((3 * MIB)) "$UP_IP" 9004)"
mw_expect_eq "1 MiB writes, 64 MiB each way" "ok 1 sent=$((64 * MIB)) received=$((64 * MIB))" \
	"$(stream -w $MIB -b $MIB -s $((64 * MIB)) -r $((64 * MIB)) "$UP_IP" 9005)"

# --- a slow reader: the budget --------------------------------------------------------------------
# HAProxy writes 64 MiB as fast as the upstream sends; the app reads 64 KiB every 2 ms. The
# backlog passes the budget, the connection leaves the shortcut for good, and TCP throttles the
# writer from then on.
l0=$(ev left_budget)
mw_expect_eq "slow reader, 64 MiB down" "ok 1 sent=0 received=$((64 * MIB))" \
	"$(stream -d 2000 -r $((64 * MIB)) "$UP_IP" 9006)"
mw_expect_eq "  it left the shortcut for the budget" 1 "$(moved left_budget "$l0")"

# --- FIONREAD, nginx's way ----------------------------------------------------------------------
# Edge-triggered epoll, FIONREAD after a read that filled the buffer, then only what FIONREAD
# announced (and nothing after a short read) until the next edge. First under the budget (900 kB,
# every byte handed over), then falling behind: 1000-byte reads of 32 MiB, so the connection
# leaves the shortcut with bytes still queued and the rest comes by TCP behind them.
p0=$(ev paired) l0=$(ev left_budget)
mw_expect_eq "FIONREAD reader, 20 connections, 900 kB each way, 1000-byte writes and reads" \
	"ok 20 sent=18000000 received=18000000" \
	"$(stream -m fionread -b 1000 -w 1000 -c 5 -n 20 -s 900000 -r 900000 "$UP_IP" 9007)"
mw_expect_eq "  all on the shortcut, none left" "20 0" \
	"$(moved paired "$p0") $(moved left_budget "$l0")"
l0=$(ev left_budget)
mw_expect_eq "FIONREAD reader falling behind, 1000-byte reads of 32 MiB" \
	"ok 1 sent=0 received=$((32 * MIB))" \
	"$(stream -m fionread -b 1000 -r $((32 * MIB)) "$UP_IP" 9009)"
mw_expect_eq "  it left the shortcut for the budget, and did not stall" 1 "$(moved left_budget "$l0")"

# --- exact counters ----------------------------------------------------------------------------
# agg: the destination's totals in mw_agg_v1 (what metrics are made of), per-CPU values summed.
# The key's port is in network order.
agg() {	# PORT FIELD
	bpftool map dump pinned "$MW_PIN/maps/mw_agg_v1" -j 2>/dev/null | jq -r \
		--argjson ns "$NETNS" --argjson port $((($1 & 255) << 8 | $1 >> 8)) --arg f "$2" '
		[.[] | select(.formatted.key.netns == $ns and .formatted.key.dport == $port)
		 | .formatted.values[].value[$f]] | add // 0'
}
K=5
b0=$(ev bytes) s0=$(agg 9010 bytes_sent) r0=$(agg 9010 bytes_received) c0=$(agg 9010 closed)
mw_expect_eq "$K connections of 300000 up, 700000 down" \
	"ok $K sent=$((K * 300000)) received=$((K * 700000))" \
	"$(mw_in_pod pod "$MW_TOOLS/mwt-xfer" -n $K -s 300000 -r 700000 "$UP_IP" 9010)"
for i in $(seq 50); do
	[ "$(agg 9010 closed)" -ge $((c0 + K)) ] && break
	sleep 0.1
done
mw_expect_eq "  closed, in the destination's totals" $K $(($(agg 9010 closed) - c0))
mw_expect_eq "  bytes sent, exact (TCP's and the shortcut's)" $((K * 300000)) \
	$(($(agg 9010 bytes_sent) - s0))
mw_expect_eq "  bytes received, exact" $((K * 700000)) $(($(agg 9010 bytes_received) - r0))
mw_expect_match "  the shortcut carried bytes of them" '^[1-9][0-9]*$' "$(moved bytes "$b0")"

# --- turned off under a live connection ---------------------------------------------------------
GO=$MW_RUN/go-9008
t0=$(ev left_turned_off)
mw_in_pod pod "$STREAM" -t 20000 -P "$GO" -s 800000 -r 800000 "$UP_IP" 9008 \
	>"$MW_TMP/off.out" 2>&1 &
OFF_PID=$!
mw_register_pid "$OFF_PID"
mw_wait_log "$MW_TMP/off.out" '^paused$' 200 || mw_fail "turned off: the stream never paused" \
	"$(cat "$MW_TMP/off.out")"
# Unloading now would free the sockhash and drop what the stream's reader has not read.
out=$("$MESHWARP" unload 2>&1)
mw_expect_eq "unload with a connection on the shortcut: refused (exit 1)" 1 $?
mw_expect_match "  and says why, and how" \
	'[0-9]+ socket\(s\) on the local shortcut: unloading drops the bytes queued for them .* or unload --force' \
	"$out"
mw_expect_eq "  the data path is still there" true "$(st | jq -r '.workloads[] | select(.current) | .shortcut')"
out=$(MESHWARP_SHORTCUT=0 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "re-init with MESHWARP_SHORTCUT=0 while it runs" "0 false" \
	"$? $(st | jq -r '.workloads[] | select(.current) | .shortcut')"
touch "$GO"
wait "$OFF_PID"
mw_expect_eq "  the stream went on, every byte as sent" \
	"paused ok 1 sent=800000 received=800000" "$(tr '\n' ' ' <"$MW_TMP/off.out" | sed 's/ $//')"
mw_expect_eq "  it left the shortcut at its next write" 1 "$(moved left_turned_off "$t0")"
out=$(MESHWARP_SHORTCUT=$MODE ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "re-init with MESHWARP_SHORTCUT=$MODE" "0 true" \
	"$? $(st | jq -r '.workloads[] | select(.current) | .shortcut')"

# --- holds: a destination whose connection streamed keeps the next ones off the shortcut -------
# (docs/shortcut.md, the rule). MESHWARP_SHORTCUT_HOLD is host-wide; init sets it.
hold_init() {	# SECONDS: re-init the pod with that hold; prints "rc hold_seconds"
	local out rc
	out=$(MESHWARP_SHORTCUT_HOLD=$1 MESHWARP_SHORTCUT=$MODE \
		ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
	rc=$?
	[ "$rc" == 0 ] || echo "# $out" >&2
	echo "$rc $(st | jq -r .shortcut.hold_seconds)"
}
# on_hold DEST: "why times" of a destination on hold, nothing when it is not
on_hold() { st | jq -r --arg d "$1" '.shortcut.on_hold[] | select(.destination == $d) | "\(.why) \(.times)"'; }
up4() { stream -s $((4 * MIB)) "$UP_IP" 9011; }
UP4="ok 1 sent=$((4 * MIB)) received=0"

out=$(MESHWARP_SHORTCUT_HOLD=soon ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "MESHWARP_SHORTCUT_HOLD=soon: refused" "2" "$?"
mw_expect_match "  and says what it expects" 'MESHWARP_SHORTCUT_HOLD: invalid value \[soon\] specified \(expected seconds, 0 to [0-9]+\)' "$out"
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=600" "0 600" "$(hold_init 600)"
h0=$(ev holds) p0=$(ev paired)
mw_expect_eq "4 MiB up, nothing back: every byte" "$UP4" "$(up4)"
mw_expect_eq "  it paired, and put its destination on hold" "1 1" \
	"$(moved paired "$p0") $(moved holds "$h0")"
# Why: it streamed (a megabyte handed over, nothing back), or HAProxy fell behind by the budget
# first (it forwards at the upstream's pace): both are the shape the rule keeps off.
mw_expect_match "  status lists it: why, how often" '^(stream|budget) 1$' "$(on_hold "$UP_IP:9011")"
mw_expect_match "  for 600 s at most" '^(59[0-9]|600)$' \
	"$(st | jq -r --arg d "$UP_IP:9011" '.shortcut.on_hold[] | select(.destination == $d) | .seconds_left')"
p0=$(ev paired) d0=$(ev held)
mw_expect_eq "the next 4 MiB up to it: every byte" "$UP4" "$(up4)"
mw_expect_eq "  it did not join: held, not paired" "1 0" "$(moved held "$d0") $(moved paired "$p0")"
p0=$(ev paired) d0=$(ev held) h0=$(ev holds)
mw_expect_eq "request and answer, another port of that upstream" \
	"ok 3 sent=3000 received=3000" "$(stream -n 3 -s 1000 -r 1000 "$UP_IP" 9012)"
mw_expect_eq "  they paired, none held, no hold" "3 0 0" \
	"$(moved paired "$p0") $(moved held "$d0") $(moved holds "$h0")"
mw_expect_eq "  not on hold" "" "$(on_hold "$UP_IP:9012")"
# Connections too short to pay for joining: 16 in a row to one destination, each handing over
# fewer than 8 messages, hold it. The 3 above count: 13 more pair, the 14th is held.
p0=$(ev paired) d0=$(ev held) h0=$(ev holds)
mw_expect_eq "20 more such connections, one after another" \
	"ok 20 sent=20000 received=20000" "$(stream -n 20 -s 1000 -r 1000 "$UP_IP" 9012)"
mw_expect_eq "  13 paired, then the destination was held (short), 7 held" "13 1 7 short 1" \
	"$(moved paired "$p0") $(moved holds "$h0") $(moved held "$d0") $(on_hold "$UP_IP:9012")"
# A long connection between short ones starts the count again: one that writes its 1000 bytes
# in 10 messages, after 15 short ones, then 15 short ones again: nothing held.
h0=$(ev holds)
mw_expect_eq "15 short connections, one of 10 messages, 15 short" \
	"ok 15 sent=15000 received=15000 ok 1 sent=1000 received=1000 ok 15 sent=15000 received=15000" \
	"$(stream -n 15 -s 1000 -r 1000 "$UP_IP" 9013) $(stream -w 100 -s 1000 -r 1000 "$UP_IP" 9013) $(stream -n 15 -s 1000 -r 1000 "$UP_IP" 9013)"
mw_expect_eq "  not held" "0 " "$(moved holds "$h0") $(on_hold "$UP_IP:9013")"
# A reader falling behind by the budget: HAProxy's socket (the writer) has the destination too.
h0=$(ev holds) l0=$(ev left_budget)
mw_expect_eq "slow reader, 64 MiB down" "ok 1 sent=0 received=$((64 * MIB))" \
	"$(stream -d 2000 -r $((64 * MIB)) "$UP_IP" 9006)"
mw_expect_eq "  it left for the budget, and its destination is on hold" "1 1 budget 1" \
	"$(moved left_budget "$l0") $(moved holds "$h0") $(on_hold "$UP_IP:9006")"
# 0: nothing is held, and holds already there do not count.
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=0" "0 0" "$(hold_init 0)"
p0=$(ev paired) d0=$(ev held) h0=$(ev holds)
mw_expect_eq "4 MiB up to the held destination: every byte" "$UP4" "$(up4)"
mw_expect_eq "  it paired, nothing held, no new hold" "1 0 0" \
	"$(moved paired "$p0") $(moved held "$d0") $(moved holds "$h0")"
# A hold ends, and a new hold time applies to the holds already there: with 2 s, the hold from
# the first upload has run out and the next upload pairs and puts it on hold again; with 600 s
# that renewed hold keeps the next one off; with 2 s again it has run out. (No check depends on
# how fast the steps between run: each waits out or stays well inside its hold.)
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=2" "0 2" "$(hold_init 2)"
sleep 2.1
p0=$(ev paired) h0=$(ev holds)
mw_expect_eq "4 MiB up 2 s later: every byte" "$UP4" "$(up4)"
mw_expect_match "  the hold had ended: it paired, and renewed it (the second time)" \
	'^1 1 (stream|budget) 2$' "$(moved paired "$p0") $(moved holds "$h0") $(on_hold "$UP_IP:9011")"
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=600" "0 600" "$(hold_init 600)"
p0=$(ev paired) d0=$(ev held)
mw_expect_eq "4 MiB up again: every byte" "$UP4" "$(up4)"
mw_expect_eq "  held by the renewed hold" "1 0" "$(moved held "$d0") $(moved paired "$p0")"
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=2" "0 2" "$(hold_init 2)"
sleep 2.1
p0=$(ev paired) d0=$(ev held)
mw_expect_eq "4 MiB up 2 s after that: every byte" "$UP4" "$(up4)"
mw_expect_eq "  the renewed hold had ended too: it paired" "0 1" \
	"$(moved held "$d0") $(moved paired "$p0")"
mw_expect_eq "re-init with MESHWARP_SHORTCUT_HOLD=0 for the rest" "0 0" "$(hold_init 0)"

# --- a sidecar sockops never sees: no peer, TCP --------------------------------------------------
# pod2's sidecar runs outside the test cgroup with a fixed upstream (it needs no SO_ORIGINAL_DST):
# the app's socket joins, no peer ever does, and every byte takes TCP.
mw_netns pod2
mw_veth pod2 10.250.42.1 up 10.250.42.2
cat >"$MW_TMP/haproxy-pod2.cfg" <<EOF
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend egress
	bind 0.0.0.0:15001
	default_backend fixed
backend fixed
	server s $UP_IP:9002
EOF
chmod 0644 "$MW_TMP/haproxy-pod2.cfg"
mw_in_ns pod2 ip route add "$UP_IP/32" via 10.250.42.2 || mw_die "route in pod2 failed"
mw_spawn pod2 --uid 1337:1337 --no-cg haproxy -db -f "$MW_TMP/haproxy-pod2.cfg"
mw_wait_port pod2 15001 v4 || mw_die "pod2's HAProxy did not listen"
out=$(MESHWARP_SHORTCUT=$MODE ip netns exec "$(mw_ns pod2)" "$MESHWARP" init 2>&1)
mw_expect_eq "pod2: init with the shortcut" 0 $? || mw_die "pod2 init failed: $out"
p0=$(ev paired) u0=$(unpaired) b0=$(ev bytes)
mw_expect_eq "pod2: 3 connections through a sidecar outside the cgroup" \
	"ok 3 sent=$((3 * 2 * MIB)) received=$((3 * 2 * MIB))" \
	"$(mw_in_pod pod2 "$STREAM" -t 20000 -n 3 -s $((2 * MIB)) -r $((2 * MIB)) "$UP_IP" 9002)"
mw_expect_eq "  none paired, none carried, each counted unpaired" "0 0 3" \
	"$(moved paired "$p0") $(moved bytes "$b0") $(($(unpaired) - u0))"

# --- another sockmap user on the host -----------------------------------------------------------
FOREIGN=/sys/fs/bpf/$MW_ID-foreign
mw_defer "rm -f '$FOREIGN'"
bpftool map create "$FOREIGN" type sockhash key 4 value 8 entries 1 name othersh ||
	mw_die "cannot create a sockhash for the test"
out=$(MESHWARP_SHORTCUT=1 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "another sockhash on the host: init with MESHWARP_SHORTCUT=1 exits 0" 0 $?
mw_expect_match "  and says why the shortcut stays off" \
	'other sockops/sk_msg/sockmap users on this host \(.*sockhash [0-9]+ "othersh".*\): the local shortcut stays off \(MESHWARP_SHORTCUT=force overrides\)' \
	"$out"
mw_expect_eq "  status: off for the workload, the other map listed" "false true othersh" \
	"$(st | jq -r '"\(.workloads[] | select(.current) | .shortcut) \(.shortcut.others_on_host) \([.shortcut.host_users[] | select(.meshwarp | not) | .name] | join(","))"')"
p0=$(ev paired)
mw_expect_eq "  a connection: fine, on TCP" "ok 1 sent=$((2 * MIB)) received=$((2 * MIB))" \
	"$(stream -s $((2 * MIB)) -r $((2 * MIB)) "$UP_IP" 9002)"
mw_expect_eq "  not paired" 0 "$(moved paired "$p0")"
out=$(MESHWARP_SHORTCUT=force ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "  MESHWARP_SHORTCUT=force: on" "0 true force" \
	"$? $(st | jq -r '.workloads[] | select(.current) | "\(.shortcut) \(.shortcut_mode)"')"
p0=$(ev paired)
mw_expect_eq "  a connection, forced" "ok 1 sent=$((2 * MIB)) received=$((2 * MIB))" \
	"$(stream -s $((2 * MIB)) -r $((2 * MIB)) "$UP_IP" 9002)"
mw_expect_eq "  paired" 1 "$(moved paired "$p0")"
rm -f "$FOREIGN"
out=$(MESHWARP_SHORTCUT=1 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
if [ "$MODE" == 1 ]; then
	mw_expect_eq "  the other map gone: MESHWARP_SHORTCUT=1 is on again" "0 true" \
		"$? $(st | jq -r '.workloads[] | select(.current) | .shortcut')"
fi

# --- nothing left behind -------------------------------------------------------------------------
# Every socket that joined has closed: its entry went with it (and the kernel took it out of the
# sockhash).
for i in $(seq 50); do
	n=$(bpftool map dump pinned "$MW_PIN/maps/mw_scs_v1" -j 2>/dev/null | jq length)
	m=$(bpftool map dump pinned "$MW_PIN/maps/mw_sch_v1" -j 2>/dev/null | jq length)
	[ "$n $m" == "0 0" ] && break
	sleep 0.1
done
mw_expect_eq "no per-socket shortcut state, no socket in the sockhash" "0 0" "$n $m"
mw_expect_eq "the table never full" 0 "$(ev table_full)"

mw_test_end
