#!/usr/bin/env bash
# Egress interception, rule by rule: a workload namespace "pod" enrolled with `meshwarp init`
# (run as `ip netns exec pod meshwarp init`, the drop-in contract), mwt-sidecar as Envoy (uid 1337,
# dual-stack on 15001, in the test cgroup), mwt-server upstreams in "up". Every row runs N
# connections and checks what the client saw (the sidecar's line with the original destination,
# or the upstream that answered) and that the decision counters and stats.origdst_answered moved
# by exactly the expected amounts, every other counter by 0, and the sidecar's log by N lines for
# redirected rows and 0 otherwise. Then: a pod process outside the cgroup and a cgroup process
# in a namespace that is not enrolled are left alone; UDP is untouched; a client that writes and
# closes before the sidecar accepts still has its original destination answered.
#
#   pod 10.250.1.1/20 fd00:250:1::1/64 ==veth== up 10.250.1.2/20 fd00:250:1::2/64
#                                        + 10.250.1.9, fd00:250:1::9   (ignored addresses)
#                                        + 10.250.4.0, 10.250.4.255     (in 10.250.4.0/24)
#                                        + 10.250.3.255, 10.250.5.0     (just outside it)
#                                        + fd00:250:4::1, fd00:250:4:0:ffff:ffff:ffff:ffff (in)
#                                        + fd00:250:3:ffff:ffff:ffff:ffff:ffff, fd00:250:4:1::
#   other 10.250.16.1/24 ==veth== up 10.250.16.2/24          (in the cgroup, never enrolled)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin egress

for t in mwt-sidecar mwt-server mwt-connect; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools (make tests)"
done
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
CONNECT=$MW_TOOLS/mwt-connect
N=5

POD_IP=10.250.1.1
UP_IP=10.250.1.2
POD_IP6=fd00:250:1::1
UP_IP6=fd00:250:1::2
IGN_IP=10.250.1.9
IGN_IP6=fd00:250:1::9
IGN_CIDR=10.250.4.0/24
IN_CIDR=(10.250.4.0 10.250.4.255)
OUT_CIDR=(10.250.3.255 10.250.5.0)
IGN_CIDR6=fd00:250:4::/64
IN_CIDR6=(fd00:250:4::1 fd00:250:4:0:ffff:ffff:ffff:ffff)
OUT_CIDR6=(fd00:250:3:ffff:ffff:ffff:ffff:ffff fd00:250:4:1::)
OTHER_IP=10.250.16.1
UP_OTHER_IP=10.250.16.2

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
export APPMESH_IGNORE_GID=2000
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=15000
export APPMESH_APP_PORTS=
export APPMESH_EGRESS_IGNORED_PORTS=5432
export APPMESH_EGRESS_IGNORED_IP="169.254.169.254,$IGN_IP,$IGN_CIDR,$IGN_IP6,$IGN_CIDR6"
export APPMESH_ENABLE_IPV6=1

mw_netns pod
mw_netns up
mw_netns other
mw_veth pod "$POD_IP/20" up "$UP_IP/20" "$POD_IP6" "$UP_IP6"
POD_DEV=$MW_VETH1
UP_DEV=$MW_VETH2
for a in "$IGN_IP" "${IN_CIDR[@]}" "${OUT_CIDR[@]}"; do
	mw_in_ns up ip addr add "$a/32" dev "$UP_DEV" || mw_die "address $a in up failed"
done
for a in "$IGN_IP6" "${IN_CIDR6[@]}" "${OUT_CIDR6[@]}"; do
	mw_in_ns up ip addr add "$a/128" dev "$UP_DEV" nodad || mw_die "address $a in up failed"
done
# The extra v6 addresses are outside the link's /64: reach them on-link.
mw_in_ns pod ip -6 route add fd00:250::/32 dev "$POD_DEV" || mw_die "v6 route in pod failed"
mw_veth other "$OTHER_IP" up "$UP_OTHER_IP"

# Upstreams, outside the test cgroup (they are not the workload), and the pod's own app.
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 8080 -n up
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 5432 -n pg
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 22 -n ssh
mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 8080 -n app
for port in 8080 5432 22; do
	mw_wait_port up "$port" v6 || mw_die "upstream on port $port did not listen"
done
mw_wait_port pod 8080 v6 || mw_die "the pod's app did not listen"
mw_expect_eq "setup: upstream reachable before enrolment" "UPSTREAM up local=[::ffff:$UP_IP]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 8080)" || mw_die "no path from pod to up"
mw_expect_eq "setup: v6 CIDR edge reachable" "UPSTREAM up local=[${OUT_CIDR6[1]}]:8080" \
	"$(mw_in_pod pod "$CONNECT" "${OUT_CIDR6[1]}" 8080)" || mw_die "no v6 path to the CIDR edge"

# --- enrol, the drop-in way -------------------------------------------------------------------
out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init exits 0" 0 $? || mw_die "init failed: $out"
mw_expect_match "init says enrolled (IPv4 and IPv6)" \
	"enrolled netns [0-9]+: egress to port 15001 \(IPv4 and IPv6\)" "$out"
POD_NETNS=$(mw_in_ns pod "$MESHWARP" status -j | jq -r .current_netns)
[[ $POD_NETNS =~ ^[0-9]+$ ]] || mw_die "status -j in pod gave no current_netns: $POD_NETNS"
exp_wl="[{\"netns\":$POD_NETNS,\"current\":true,\"enabled\":true,\"generation\":1,"
exp_wl+="\"ipv6\":true}]"
mw_expect_eq "status: the pod is the one workload, current, enabled, generation 1" "$exp_wl" \
	"$(mw_in_ns pod "$MESHWARP" status -j |
		jq -c '[.workloads[] | {netns, current, enabled, generation, ipv6}]')"
# Addresses come in map order: compare them as sets.
mw_expect_eq "status: ignored ports and addresses" \
	"[22,5432] $(tr , '\n' <<<"$APPMESH_EGRESS_IGNORED_IP" | jq -R . | jq -sc sort)" \
	"$("$MESHWARP" status -j | jq -c --argjson ns "$POD_NETNS" '.workloads[]
		| select(.netns == $ns) | .ignored_ports, (.ignored_addresses | sort)' |
		paste -sd ' ')"

SIDECAR_LOG=$MW_RUN/sidecar.log
mw_spawn pod --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15001 -l "$SIDECAR_LOG"
SIDECAR_PID=$MW_PID
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not print ready"

# --- counters ---------------------------------------------------------------------------------
KEYS=(redirect local uid gid port addr no_ipv6 disabled answered unknown sidecar)

# snap: the pod's egress decision counters, two global stats and the sidecar's log line count,
# in the order of KEYS ("none" when the pod is not enrolled).
snap() {
	local j v n
	n=$(wc -l <"$SIDECAR_LOG")
	j=$("$MESHWARP" status -j) || { echo "status-failed $n"; return; }
	v=$(jq -r --argjson ns "$POD_NETNS" '
		(first(.workloads[] | select(.netns == $ns)) // null) as $w
		| if $w == null then "none" else
		  ([$w.decisions.egress | .redirect, .local, .uid, .gid, .port, .addr, .no_ipv6,
		    .disabled] + [.stats.origdst_answered, .stats.origdst_unknown])
		  | map(tostring) | join(" ") end' <<<"$j") || v=jq-failed
	echo "$v $n"
}

# delta BEFORE AFTER: "redirect=5 local=0 ..." over KEYS.
delta() {
	local -a b a
	local i s=""
	read -r -a b <<<"$1"
	read -r -a a <<<"$2"
	if [ "${#b[@]}" -ne "${#KEYS[@]}" ] || [ "${#a[@]}" -ne "${#KEYS[@]}" ]; then
		echo "no counters to compare: before [$1], after [$2]"
		return
	fi
	for i in "${!KEYS[@]}"; do
		s+="${KEYS[i]}=$((a[i] - b[i])) "
	done
	echo "${s% }"
}

# want "redirect=5 answered=10": the full KEYS vector, the keys not named at 0.
want() {
	local k kv s="" v
	for k in "${KEYS[@]}"; do
		v=0
		for kv in $1; do
			[ "${kv%%=*}" == "$k" ] && v=${kv#*=}
		done
		s+="$k=$v "
	done
	echo "${s% }"
}

# expect_counters NAME BEFORE SPEC
expect_counters() {
	mw_expect_eq "$1: counters" "$(want "$3")" "$(delta "$2" "$(snap)")"
}

# row NAME WANT SPEC [--uid U:G] MWT-CONNECT-ARGS...: N connections from the pod, in the cgroup.
row() {
	local name=$1 exp=$2 spec=$3 before i out got=""
	local -a who=()
	shift 3
	if [ "$1" == --uid ]; then
		who=(--uid "$2")
		shift 2
	fi
	before=$(snap)
	for i in $(seq "$N"); do
		out=$(mw_in_pod pod "${who[@]}" "$CONNECT" "$@")
		if [ "$out" != "$exp" ] && [ -z "$got" ]; then
			got="$out (connection $i of $N)"
		fi
	done
	mw_expect_eq "$name: client saw ($N connections)" "$exp" "${got:-$exp}"
	wait_sidecar_lines "$before" "$spec"
	expect_counters "$name" "$before" "$spec"
}

# wait_sidecar_lines BEFORE SPEC: the sidecar writes its log line just after the client's, so
# wait (~5 s at most) for the lines SPEC expects before reading the counters.
wait_sidecar_lines() {
	local want_n=0 kv i
	for kv in $2; do
		[ "${kv%%=*}" == sidecar ] && want_n=${kv#*=}
	done
	for i in $(seq 50); do
		[ "$(wc -l <"$SIDECAR_LOG")" -ge "$((${1##* } + want_n))" ] && return 0
		sleep 0.1
	done
}

sc4() { echo "SIDECAR orig=$1:$2 orig6=[::ffff:$1]:$2"; }
sc6() { echo "SIDECAR orig=[$1]:$2 orig6=[$1]:$2"; }
up4() { echo "UPSTREAM $1 local=[::ffff:$2]:$3"; }
up6() { echo "UPSTREAM $1 local=[$2]:$3"; }

# --- 6. redirected ----------------------------------------------------------------------------
# A v4 connection lands on the dual-stack sidecar as ::ffff:127.0.0.1, so it asks both options
# (2 answers per connection); a v6 one asks SOL_IPV6 only.
row "redirect v4" "$(sc4 "$UP_IP" 8080)" "redirect=$N answered=$((2 * N)) sidecar=$N" \
	"$UP_IP" 8080
row "redirect v6" "$(sc6 "$UP_IP6" 8080)" "redirect=$N answered=$N sidecar=$N" \
	"$UP_IP6" 8080
row "redirect v4-mapped (dual-stack client)" "$(sc4 "$UP_IP" 8080)" \
	"redirect=$N answered=$((2 * N)) sidecar=$N" -m "$UP_IP" 8080
row "redirect a port nobody listens on" "$(sc4 "$UP_IP" 8081)" \
	"redirect=$N answered=$((2 * N)) sidecar=$N" "$UP_IP" 8081
row "redirect uid 4242 (not ignored)" "$(sc4 "$UP_IP" 8080)" \
	"redirect=$N answered=$((2 * N)) sidecar=$N" --uid 4242:4242 "$UP_IP" 8080

# --- 1. local destinations --------------------------------------------------------------------
row "local: the pod's own v4" "$(up4 app "$POD_IP" 8080)" "local=$N" "$POD_IP" 8080
row "local: 127.0.0.1" "$(up4 app 127.0.0.1 8080)" "local=$N" 127.0.0.1 8080
row "local: the pod's own v6" "$(up6 app "$POD_IP6" 8080)" "local=$N" "$POD_IP6" 8080
row "local: ::1" "$(up6 app ::1 8080)" "local=$N" ::1 8080
row "local: own v4, v4-mapped client" "$(up4 app "$POD_IP" 8080)" "local=$N" -m "$POD_IP" 8080

# --- 2, 3. owner ------------------------------------------------------------------------------
row "uid 1337 bypass v4" "$(up4 up "$UP_IP" 8080)" "uid=$N" --uid 1337:1337 "$UP_IP" 8080
row "uid 1337 bypass v6" "$(up6 up "$UP_IP6" 8080)" "uid=$N" --uid 1337:1337 "$UP_IP6" 8080
row "uid 1337 bypass v4-mapped" "$(up4 up "$UP_IP" 8080)" "uid=$N" --uid 1337:1337 \
	-m "$UP_IP" 8080
row "gid 2000 bypass v4" "$(up4 up "$UP_IP" 8080)" "gid=$N" --uid 4242:2000 "$UP_IP" 8080
row "gid 2000 bypass v6" "$(up6 up "$UP_IP6" 8080)" "gid=$N" --uid 4242:2000 "$UP_IP6" 8080
row "gid 2000 bypass as root" "$(up4 up "$UP_IP" 8080)" "gid=$N" --uid 0:2000 "$UP_IP" 8080
row "uid and gid both ignored: counted uid (rule 2 first)" "$(up4 up "$UP_IP" 8080)" "uid=$N" \
	--uid 1337:2000 "$UP_IP" 8080

# --- 4. ignored ports -------------------------------------------------------------------------
row "ignored port 5432 v4" "$(up4 pg "$UP_IP" 5432)" "port=$N" "$UP_IP" 5432
row "ignored port 5432 v6" "$(up6 pg "$UP_IP6" 5432)" "port=$N" "$UP_IP6" 5432
row "port 22 always ignored v4" "$(up4 ssh "$UP_IP" 22)" "port=$N" "$UP_IP" 22
row "port 22 always ignored v6" "$(up6 ssh "$UP_IP6" 22)" "port=$N" "$UP_IP6" 22
row "ignored port to an ignored address: counted port (rule 4 first)" \
	"$(up4 pg "$IGN_IP" 5432)" "port=$N" "$IGN_IP" 5432
row "uid 1337 to port 22: counted uid (rule 2 first)" "$(up4 ssh "$UP_IP" 22)" "uid=$N" \
	--uid 1337:1337 "$UP_IP" 22

# --- 5. ignored addresses ---------------------------------------------------------------------
row "ignored address v4" "$(up4 up "$IGN_IP" 8080)" "addr=$N" "$IGN_IP" 8080
row "ignored address v6" "$(up6 up "$IGN_IP6" 8080)" "addr=$N" "$IGN_IP6" 8080
row "ignored address v4-mapped" "$(up4 up "$IGN_IP" 8080)" "addr=$N" -m "$IGN_IP" 8080
for a in "${IN_CIDR[@]}"; do
	row "in $IGN_CIDR: $a" "$(up4 up "$a" 8080)" "addr=$N" "$a" 8080
done
row "in $IGN_CIDR, v4-mapped: ${IN_CIDR[1]}" "$(up4 up "${IN_CIDR[1]}" 8080)" "addr=$N" \
	-m "${IN_CIDR[1]}" 8080
for a in "${IN_CIDR6[@]}"; do
	row "in $IGN_CIDR6: $a" "$(up6 up "$a" 8080)" "addr=$N" "$a" 8080
done
for a in "${OUT_CIDR[@]}"; do
	row "just outside $IGN_CIDR: $a" "$(sc4 "$a" 8080)" \
		"redirect=$N answered=$((2 * N)) sidecar=$N" "$a" 8080
done
for a in "${OUT_CIDR6[@]}"; do
	row "just outside $IGN_CIDR6: $a" "$(sc6 "$a" 8080)" "redirect=$N answered=$N sidecar=$N" \
		"$a" 8080
done

# --- scope: the cgroup AND an enrolled namespace ------------------------------------------------
before=$(snap)
out=$(mw_in_ns pod "$CONNECT" "$UP_IP" 8080)
mw_expect_eq "pod process outside the cgroup: reaches the upstream" "$(up4 up "$UP_IP" 8080)" "$out"
out=$(mw_in_ns pod "$CONNECT" "$UP_IP6" 8080)
mw_expect_eq "pod process outside the cgroup: reaches the upstream (v6)" \
	"$(up6 up "$UP_IP6" 8080)" "$out"
expect_counters "pod process outside the cgroup" "$before" ""

before=$(snap)
mw_expect_eq "cgroup process in a namespace not enrolled: reaches the upstream" \
	"$(up4 up "$UP_OTHER_IP" 8080)" "$(mw_in_pod other "$CONNECT" "$UP_OTHER_IP" 8080)"
mw_expect_eq "... and is really in the cgroup" "0::/$MW_ID" \
	"$(mw_in_pod other cat /proc/self/cgroup | grep '^0::')"
expect_counters "cgroup process in a namespace not enrolled" "$before" ""
mw_expect_eq "still one workload" 1 "$("$MESHWARP" status -j | jq '.workloads | length')"

# --- UDP is untouched -------------------------------------------------------------------------
mw_spawn up --no-cg socat -u UDP4-RECV:9053 STDOUT
UDP4_LOG=$MW_LOG
mw_spawn up --no-cg socat -u UDP6-RECV:9054 STDOUT
UDP6_LOG=$MW_LOG
for port in 9053 9054; do
	for i in $(seq 50); do
		[ -n "$(mw_in_ns up ss -Hlun "sport = :$port")" ] && break
		sleep 0.1
	done
done
before=$(snap)
for i in $(seq "$N"); do
	# UDP4:/UDP6: connect() the socket (the connect4/6 hooks run), then send.
	echo "udp4 connect $i" | mw_in_pod pod socat -u - "UDP4:$UP_IP:9053"
	echo "udp4 sendto $i" | mw_in_pod pod socat -u - "UDP4-SENDTO:$UP_IP:9053"
	echo "udp6 connect $i" | mw_in_pod pod socat -u - "UDP6:[$UP_IP6]:9054"
done
mw_wait_log "$UDP4_LOG" "^udp4 sendto $N\$" && mw_wait_log "$UDP4_LOG" "^udp4 connect $N\$"
mw_wait_log "$UDP6_LOG" "^udp6 connect $N\$"
mw_expect_eq "UDP v4 datagrams (connected and sendto) arrived upstream" "$((2 * N))" \
	"$(grep -cE '^udp4 (connect|sendto) [0-9]+$' "$UDP4_LOG")"
mw_expect_eq "UDP v6 datagrams arrived upstream" "$N" \
	"$(grep -cE '^udp6 connect [0-9]+$' "$UDP6_LOG")"
expect_counters "UDP" "$before" ""

# --- a client that writes and closes before the sidecar accepts ------------------------------
# The sidecar is stopped: the handshakes complete in the kernel and wait in its accept queue;
# each client writes, closes and exits. Only then does the sidecar accept and ask.
kill -STOP "$SIDECAR_PID" || mw_die "cannot stop the sidecar"
mw_defer "kill -CONT $SIDECAR_PID 2>/dev/null"
before=$(snap)
lines_before=$(wc -l <"$SIDECAR_LOG")
for i in $(seq "$N"); do
	echo "early close $i" | mw_in_pod pod socat -u - "TCP4:$UP_IP:8080" ||
		mw_fail "early close: socat v4 #$i" "exit status $?"
	echo "early close $i" | mw_in_pod pod socat -u - "TCP6:[$UP_IP6]:8080" ||
		mw_fail "early close: socat v6 #$i" "exit status $?"
done
mw_expect_eq "early close: sidecar has answered nothing yet" 0 \
	"$(($(wc -l <"$SIDECAR_LOG") - lines_before))"
kill -CONT "$SIDECAR_PID"
for i in $(seq 50); do
	[ "$(($(wc -l <"$SIDECAR_LOG") - lines_before))" -ge $((2 * N)) ] && break
	sleep 0.1
done
exp=$( (for i in $(seq "$N"); do sc4 "$UP_IP" 8080; sc6 "$UP_IP6" 8080; done) | sort)
got=$(tail -n +"$((lines_before + 1))" "$SIDECAR_LOG" | sort)
mw_expect_eq "early close: the sidecar learned every original destination after the close" \
	"$(echo "$exp" | paste -sd '|')" "$(echo "$got" | paste -sd '|')"
expect_counters "early close" "$before" \
	"redirect=$((2 * N)) answered=$((3 * N)) sidecar=$((2 * N))"

# The sidecar is back to normal.
row "redirect v4 after the early closes" "$(sc4 "$UP_IP" 8080)" \
	"redirect=$N answered=$((2 * N)) sidecar=$N" "$UP_IP" 8080

mw_test_end
