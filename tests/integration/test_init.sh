#!/usr/bin/env bash
# The init contract, each part checked by what the user sees (exit status, the exact message,
# `status -j`, and traffic: SIDECAR = intercepted, UPSTREAM = went direct):
#   (g) nothing loaded: `status` exits 3 with loaded false; `init disable` is fine; a bad config
#       loads nothing
#   (a) each bad APPMESH_* value: exit 1, App Mesh's exact message naming the variable and value,
#       the enrolled workload's generation and settings unchanged, interception still on
#   (b) init twice: exit 0, generation +1, counters kept, interception on
#   (c) init disable: only that namespace leaves (the other keeps being intercepted), traffic
#       goes direct, twice is fine, enrolling again starts fresh counters
#   (d) interactive mode driven through a fifo: enable / status / disable / quit
#   (e) APPMESH_ENABLE_IPV6=1 where IPv6 is disabled: exit 0, a warning, ipv6 false, v4 on
#   (f) 100 ignored ports and 300 ignored CIDRs: accepted, all listed, the last ones act
#   (h) unload: no pins, nothing attached to the test cgroup, traffic direct, twice is fine
#
#   pod  10.250.1.1 ==veth== up 10.250.1.2        pod2 10.250.2.1 ==veth== up 10.250.2.2
#   nov6 10.250.3.1 ==veth== up 10.250.3.2        ia   10.250.5.1 ==veth== up 10.250.5.2
#   big  10.250.4.1 fd00:250:4::1 ==veth== up 10.250.4.2 fd00:250:4::2
#        (+ up 10.251.255.7, fd00:251:2c::7 inside the last of the 300 ignored CIDRs)
# Each namespace but up runs mwt-sidecar on 15001 as uid 1337 in the test cgroup; up runs
# mwt-server on 8080, 20015 and 20099 outside it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin init

for t in mwt-sidecar mwt-server mwt-connect; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools (make tests)"
done
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
command -v bpftool >/dev/null || mw_die "bpftool missing: scripts/install-deps.sh installs it"
CONNECT=$MW_TOOLS/mwt-connect

# The good configuration every part starts from.
good_env() {
	export APPMESH_START_ENABLED=1
	export APPMESH_IGNORE_UID=1337
	export APPMESH_IGNORE_GID=2000
	export APPMESH_ENVOY_EGRESS_PORT=15001
	export APPMESH_ENVOY_INGRESS_PORT=15000
	export APPMESH_APP_PORTS=
	export APPMESH_EGRESS_IGNORED_PORTS=5432
	export APPMESH_EGRESS_IGNORED_IP=169.254.169.254,10.250.9.0/24,fd00:250:9::/64
	export APPMESH_ENABLE_IPV6=1
}
good_env

mw_netns up
for ns in pod pod2 nov6 big ia; do
	case $ns in
	pod) n=1 ;; pod2) n=2 ;; nov6) n=3 ;; big) n=4 ;; ia) n=5 ;;
	esac
	mw_netns "$ns"
	if [ "$ns" == big ]; then
		mw_veth "$ns" "10.250.$n.1" up "10.250.$n.2" "fd00:250:$n::1" "fd00:250:$n::2"
		BIG_DEV=$MW_VETH1
		BIG_UP_DEV=$MW_VETH2
	else
		mw_veth "$ns" "10.250.$n.1" up "10.250.$n.2"
	fi
done
mw_in_ns nov6 sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || mw_die "cannot disable IPv6 in nov6"

mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 8080 -n up
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 20015 -n p20015
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 20099 -n p20099
for port in 8080 20015 20099; do
	mw_wait_port up "$port" v6 || mw_die "upstream on port $port did not listen"
done
for ns in pod pod2 big ia; do
	mw_spawn "$ns" --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15001
	mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar in $ns did not print ready"
done
mw_spawn nov6 --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -4 -p 15001
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar in nov6 did not print ready"

# conn NS ADDR PORT [-m]: what a client in NS, in the cgroup, sees.
conn() {
	local ns=$1
	shift
	mw_in_pod "$ns" "$CONNECT" "$@"
}
sc4() { echo "SIDECAR orig=$1:$2 orig6=[::ffff:$1]:$2"; }
up4() { echo "UPSTREAM $1 local=[::ffff:$2]:$3"; }

# init_in NS [ARGS...]: `ip netns exec NS meshwarp init ARGS`; sets RC, OUT (stdout), ERR.
init_in() {
	local ns
	ns=$(mw_ns "$1")
	shift
	ip netns exec "$ns" "$MESHWARP" init "$@" >"$MW_TMP/init.out" 2>"$MW_TMP/init.err"
	RC=$?
	OUT=$(cat "$MW_TMP/init.out")
	ERR=$(cat "$MW_TMP/init.err")
}

# cookie NS: the namespace's netns cookie, as status reports it.
cookie() {
	mw_in_ns "$1" "$MESHWARP" status -j | jq -r .current_netns
}

# wl COOKIE: the workload's settings and generation (no counters), "none" when absent.
wl() {
	"$MESHWARP" status -j | jq -c --argjson ns "$1" \
		'(first(.workloads[] | select(.netns == $ns)) // "none") | del(.decisions?)'
}

# ctr COOKIE: "redirect local uid gid port addr no_ipv6 disabled" of the workload.
ctr() {
	"$MESHWARP" status -j | jq -r --argjson ns "$1" \
		'(first(.workloads[] | select(.netns == $ns)) // null)
		 | if . == null then "none" else .decisions.egress
		   | [.redirect, .local, .uid, .gid, .port, .addr, .no_ipv6, .disabled]
		   | map(tostring) | join(" ") end'
}

# --- (g) nothing loaded -----------------------------------------------------------------------
NONE_PIN=$MW_PIN-none
mw_defer "rm -rf '$NONE_PIN'"
out=$(MESHWARP_PIN_DIR=$NONE_PIN "$MESHWARP" status -j 2>/dev/null)
mw_expect_eq "(g) status with nothing loaded exits 3" 3 $?
mw_expect_eq "(g) status -j with nothing loaded: loaded false" \
	"{\"pin_dir\":\"$NONE_PIN\",\"loaded\":false}" "$(jq -c . <<<"$out")"
out=$(MESHWARP_PIN_DIR=$NONE_PIN "$MESHWARP" status 2>&1)
mw_expect_eq "(g) status (text) with nothing loaded exits 3" 3 $?
mw_expect_eq "(g) status did not create the pin dir" no \
	"$([ -e "$NONE_PIN" ] && echo yes || echo no)"
mw_expect_eq "(g) status on the test's pin dir before any init exits 3" 3 \
	"$("$MESHWARP" status -j >/dev/null 2>&1; echo $?)"

init_in pod disable
mw_expect_eq "(g) init disable with nothing loaded exits 0" 0 "$RC"
mw_expect_match "(g) init disable with nothing loaded says so" \
	"nothing loaded at $MW_PIN: netns [0-9]+ is not intercepted" "$ERR"

APPMESH_ENVOY_EGRESS_PORT=70000 init_in pod
mw_expect_eq "(g) bad config with nothing loaded exits 1" 1 "$RC"
mw_expect_eq "(g) bad config loaded nothing (no pin dir)" no \
	"$([ -e "$MW_PIN" ] && echo yes || echo no)"
mw_expect_eq "(g) bad config attached nothing to the test cgroup" "" \
	"$(bpftool cgroup show "$MW_CG" 2>&1)"

# --- enrol pod with the good config -----------------------------------------------------------
init_in pod
mw_expect_eq "init in pod exits 0" 0 "$RC" || mw_die "init failed: $ERR"
POD=$(cookie pod)
[[ $POD =~ ^[0-9]+$ ]] || mw_die "no netns cookie for pod: $POD"
mw_expect_match "init says it enrolled the pod's netns" \
	"enrolled netns $POD: egress to port 15001 \(IPv4 and IPv6\)" "$ERR$OUT"
mw_expect_eq "pod intercepted" "$(sc4 10.250.1.2 8080)" "$(conn pod 10.250.1.2 8080)"
S0=$(wl "$POD")
want='{"generation":1,"egress_port":15001,"ingress_port":15000,"ignore_uid":1337,'
want+='"ignore_gid":2000,"ipv6":true,"app_ports":[],"ignored_ports":[22,5432]}'
mw_expect_eq "pod enrolled at generation 1 with the good settings" "$want" \
	"$(jq -c '{generation, egress_port, ingress_port, ignore_uid, ignore_gid, ipv6, app_ports,
		ignored_ports}' <<<"$S0")"

# --- (a) bad input ----------------------------------------------------------------------------
# bad NAME MESSAGE [VAR=VALUE | -VAR]...: init in pod with the good config changed so; exit 1,
# exactly MESSAGE on stderr, nothing on stdout, the pod's workload unchanged.
bad() {
	local name=$1 msg=$2 a
	shift 2
	(
		for a in "$@"; do
			if [[ $a == -* ]]; then
				unset "${a#-}"
			else
				export "${a?}"
			fi
		done
		init_in pod
		printf '%s\n' "$RC" >"$MW_TMP/bad.rc"
		printf '%s' "$ERR" >"$MW_TMP/bad.err"
		printf '%s' "$OUT" >"$MW_TMP/bad.out"
	)
	mw_expect_eq "(a) $name: exit 1" 1 "$(cat "$MW_TMP/bad.rc")"
	mw_expect_eq "(a) $name: message" "$msg" "$(cat "$MW_TMP/bad.err")"
	mw_expect_eq "(a) $name: nothing on stdout" "" "$(cat "$MW_TMP/bad.out")"
	mw_expect_eq "(a) $name: workload unchanged" "$S0" "$(wl "$POD")"
}

UIDGID="Variables APPMESH_IGNORE_UID and/or APPMESH_IGNORE_GID must be set."
bad "no UID/GID" "$UIDGID" -APPMESH_IGNORE_UID -APPMESH_IGNORE_GID
bad "empty UID/GID" "$UIDGID" APPMESH_IGNORE_UID= APPMESH_IGNORE_GID=
bad "bad UID" "APPMESH_IGNORE_UID: invalid UID [abc] specified" APPMESH_IGNORE_UID=abc
bad "negative UID" "APPMESH_IGNORE_UID: invalid UID [-1] specified" APPMESH_IGNORE_UID=-1
bad "GID 2^32-1" "APPMESH_IGNORE_GID: invalid GID [4294967295] specified" \
	APPMESH_IGNORE_GID=4294967295
EG="APPMESH_ENVOY_EGRESS_PORT"
bad "egress port missing" "$EG: missing required parameter proxyEgressPort" "-$EG"
bad "egress port empty" "$EG: missing required parameter proxyEgressPort" "$EG="
bad "egress port 70000" "$EG: invalid port [70000] specified" "$EG=70000"
bad "egress port abc" "$EG: invalid port [abc] specified" "$EG=abc"
bad "egress port 0" "$EG: invalid port [0] specified" "$EG=0"
bad "egress port with a blank" "$EG: invalid port [ 15001] specified" "$EG= 15001"
bad "ingress port 70000" "APPMESH_ENVOY_INGRESS_PORT: invalid port [70000] specified" \
	APPMESH_ENVOY_INGRESS_PORT=70000 APPMESH_APP_PORTS=9080
bad "app port 70000" "APPMESH_APP_PORTS: invalid port [70000] specified" \
	APPMESH_APP_PORTS=9080,70000
bad "ignored port abc" "APPMESH_EGRESS_IGNORED_PORTS: invalid port [abc] specified" \
	"APPMESH_EGRESS_IGNORED_PORTS=80, abc"
bad "ignored port 70000" "APPMESH_EGRESS_IGNORED_PORTS: invalid port [70000] specified" \
	APPMESH_EGRESS_IGNORED_PORTS=70000
bad "ingress port without APPMESH_APP_PORTS" \
	"APPMESH_APP_PORTS: missing parameter appPorts (required if proxyIngressPort is provided)" \
	-APPMESH_APP_PORTS
msg="APPMESH_ENVOY_INGRESS_PORT: missing parameter proxyIngressPort"
msg+=" (required if appPorts are provided)"
bad "app ports without ingress port" "$msg" APPMESH_APP_PORTS=9080 -APPMESH_ENVOY_INGRESS_PORT
IP="APPMESH_EGRESS_IGNORED_IP"
for c in 10.0.0.0/33 not-an-ip 300.1.1.1 fd00::/129 fe80::1%eth0 10.0.0.0/ 10.0.0.0/-1; do
	bad "ignored IP [$c]" "$IP: invalid IP or CIDR block [$c] specified in egressIgnoredIPs" \
		"$IP=169.254.169.254, $c"
done
bad "ignored IP with host bits" \
	"$IP: invalid IP or CIDR block [10.0.0.1/8] specified in egressIgnoredIPs; host bits set" \
	"$IP=10.0.0.1/8"
for v in yes 2 true; do
	bad "ENABLE_IPV6=$v" "APPMESH_ENABLE_IPV6: invalid value [$v] specified (expected 0 or 1)" \
		"APPMESH_ENABLE_IPV6=$v"
done
mw_expect_eq "(a) after the bad inputs: pod still intercepted" "$(sc4 10.250.1.2 8080)" \
	"$(conn pod 10.250.1.2 8080)"

# --- (b) init twice ---------------------------------------------------------------------------
c_before=$(ctr "$POD")
init_in pod
mw_expect_eq "(b) second init exits 0" 0 "$RC"
S1=$(wl "$POD")
mw_expect_eq "(b) generation 1 -> 2" 2 "$(jq .generation <<<"$S1")"
mw_expect_eq "(b) settings otherwise unchanged" "$(jq -c 'del(.generation)' <<<"$S0")" \
	"$(jq -c 'del(.generation)' <<<"$S1")"
mw_expect_eq "(b) counters kept" "$c_before" "$(ctr "$POD")"
mw_expect_eq "(b) still intercepted" "$(sc4 10.250.1.2 8080)" "$(conn pod 10.250.1.2 8080)"
mw_expect_eq "(b) the redirect counter went on from where it was" \
	"$(($(cut -d' ' -f1 <<<"$c_before") + 1))" "$(ctr "$POD" | cut -d' ' -f1)"
mw_expect_eq "(b) still one workload" 1 "$("$MESHWARP" status -j | jq '.workloads | length')"

# --- (c) init disable -------------------------------------------------------------------------
init_in pod2
mw_expect_eq "(c) init in pod2 exits 0" 0 "$RC"
POD2=$(cookie pod2)
mw_expect_eq "(c) pod2 intercepted" "$(sc4 10.250.2.2 8080)" "$(conn pod2 10.250.2.2 8080)"
S2=$(wl "$POD2")
c2=$(ctr "$POD2")

PROGS=$("$MESHWARP" status -j | jq -c '[.programs[] | {name, attached, link_id}]')
mw_expect_eq "(c) programs attached before the disable" true \
	"$(jq 'length > 0 and all(.attached)' <<<"$PROGS")"
init_in pod disable
mw_expect_eq "(c) init disable exits 0" 0 "$RC"
mw_expect_match "(c) init disable says so" "netns $POD is no longer intercepted" "$ERR"
mw_expect_eq "(c) pod's workload gone" '"none"' "$(wl "$POD")"
mw_expect_eq "(c) pod goes direct" "$(up4 up 10.250.1.2 8080)" "$(conn pod 10.250.1.2 8080)"
mw_expect_eq "(c) pod2's workload untouched" "$S2" "$(wl "$POD2")"
mw_expect_eq "(c) pod2's counters untouched" "$c2" "$(ctr "$POD2")"
mw_expect_eq "(c) pod2 still intercepted" "$(sc4 10.250.2.2 8080)" "$(conn pod2 10.250.2.2 8080)"
mw_expect_eq "(c) pod2's redirect counter +1" "$(($(cut -d' ' -f1 <<<"$c2") + 1))" \
	"$(ctr "$POD2" | cut -d' ' -f1)"
mw_expect_eq "(c) the same programs still attached (same links)" "$PROGS" \
	"$("$MESHWARP" status -j | jq -c '[.programs[] | {name, attached, link_id}]')"
init_in pod disable
mw_expect_eq "(c) disabling twice exits 0" 0 "$RC"
mw_expect_eq "(c) pod still goes direct" "$(up4 up 10.250.1.2 8080)" "$(conn pod 10.250.1.2 8080)"
mw_expect_eq "(c) pod2 still intercepted after the second disable" "$(sc4 10.250.2.2 8080)" \
	"$(conn pod2 10.250.2.2 8080)"
init_in pod
mw_expect_eq "(c) enrolling pod again exits 0" 0 "$RC"
mw_expect_eq "(c) pod intercepted again" "$(sc4 10.250.1.2 8080)" "$(conn pod 10.250.1.2 8080)"
mw_expect_eq "(c) pod's counters started afresh" "1 0 0 0 0 0 0 0" "$(ctr "$POD")"

# --- (d) interactive mode ---------------------------------------------------------------------
IA=$(cookie ia)
APPMESH_START_ENABLED=0 init_in ia </dev/null
mw_expect_eq "(d) interactive with stdin closed exits 0" 0 "$RC"
mw_expect_eq "(d) ... and enrols nothing" '"none"' "$(wl "$IA")"

FIFO=$MW_TMP/ia.fifo
IA_OUT=$MW_TMP/ia.out
mkfifo "$FIFO" || mw_die "mkfifo failed"
APPMESH_START_ENABLED=0 ip netns exec "$(mw_ns ia)" "$MESHWARP" init <"$FIFO" >"$IA_OUT" \
	2>"$MW_TMP/ia.err" &
IA_PID=$!
exec 7>"$FIFO"
mw_defer "exec 7>&-"
mw_register_pid "$IA_PID"
mw_wait_log "$IA_OUT" '^meshwarp init: commands are enable, disable, status, quit$' ||
	mw_fail "(d) interactive banner" "$(cat "$IA_OUT")"
mw_expect_eq "(d) not enrolled before enable" '"none"' "$(wl "$IA")"
mw_expect_eq "(d) not intercepted before enable" "$(up4 up 10.250.5.2 8080)" \
	"$(conn ia 10.250.5.2 8080)"
echo enable >&7
mw_wait_log "$IA_OUT" '^enable' || mw_fail "(d) enable" "no reply"
mw_expect_eq "(d) enable replies enabled" enabled "$(grep -E '^enable' "$IA_OUT")"
mw_expect_eq "(d) intercepted after enable" "$(sc4 10.250.5.2 8080)" "$(conn ia 10.250.5.2 8080)"
echo status >&7
mw_wait_log "$IA_OUT" "netns $IA \(this namespace\)" ||
	mw_fail "(d) status" "no status of this namespace: $(cat "$IA_OUT")"
mw_expect_match "(d) status shows this namespace enabled" \
	"netns $IA \(this namespace\) +enabled +generation 1" "$(cat "$IA_OUT")"
mw_expect_match "(d) status shows the redirect" "egress decisions +redirect 1 " "$(cat "$IA_OUT")"
mw_expect_eq "(d) interactive status shows only this namespace" 1 \
	"$(grep -c '^ *netns [0-9]' "$IA_OUT")"
echo "bogus" >&7
mw_wait_log "$IA_OUT" "^unknown command" || mw_fail "(d) unknown command" "no reply"
mw_expect_eq "(d) still intercepted before disable" "$(sc4 10.250.5.2 8080)" \
	"$(conn ia 10.250.5.2 8080)"
echo disable >&7
mw_wait_log "$IA_OUT" '^disable' || mw_fail "(d) disable" "no reply"
mw_expect_eq "(d) not intercepted after disable" "$(up4 up 10.250.5.2 8080)" \
	"$(conn ia 10.250.5.2 8080)"
mw_expect_eq "(d) not enrolled after disable" '"none"' "$(wl "$IA")"
echo quit >&7
exec 7>&-
wait "$IA_PID"
mw_expect_eq "(d) quit exits 0" 0 $?
replies="meshwarp init: commands are enable, disable, status, quit|enabled"
replies+="|unknown command 'bogus': enable, disable, status, quit|disabled"
mw_expect_eq "(d) the replies, in order" "$replies" \
	"$(grep -E '^(meshwarp init:|enable|disable|unknown command)' "$IA_OUT" | paste -sd '|')"

# --- (e) IPv6 disabled in the namespace -------------------------------------------------------
init_in nov6
mw_expect_eq "(e) init with ENABLE_IPV6=1 and IPv6 disabled exits 0" 0 "$RC"
mw_expect_match "(e) warns about IPv6 on stderr" \
	"APPMESH_ENABLE_IPV6=1 but IPv6 is disabled in this namespace: intercepting IPv4 only" \
	"$ERR"
mw_expect_match "(e) enrolled for IPv4 only" "egress to port 15001 \(IPv4\)" "$ERR"
NOV6=$(cookie nov6)
mw_expect_eq "(e) status: ipv6 false" false "$(wl "$NOV6" | jq .ipv6)"
mw_expect_eq "(e) IPv4 intercepted" "SIDECAR orig=10.250.3.2:8080 orig6=-" \
	"$(conn nov6 10.250.3.2 8080)"
mw_expect_eq "(e) counted as a redirect" "1 0 0 0 0 0 0 0" "$(ctr "$NOV6")"

# --- (f) long lists ---------------------------------------------------------------------------
ports=$(seq -s, 20000 20099)
cidrs=$( (for k in $(seq 0 255); do echo "10.251.$k.0/24"; done
	for k in $(seq 1 44); do printf 'fd00:251:%x::/64\n' "$k"; done) | paste -sd,)
mw_expect_eq "(f) the lists: 100 ports, 300 CIDRs" "100 300" \
	"$(tr , '\n' <<<"$ports" | wc -l) $(tr , '\n' <<<"$cidrs" | wc -l)"
mw_in_ns up ip addr add 10.251.255.7/32 dev "$BIG_UP_DEV" || mw_die "address in up failed"
mw_in_ns up ip addr add fd00:251:2c::7/128 dev "$BIG_UP_DEV" nodad || mw_die "address in up failed"
mw_in_ns big ip route add 10.251.0.0/16 dev "$BIG_DEV" || mw_die "route in big failed"
mw_in_ns big ip -6 route add fd00:251::/32 dev "$BIG_DEV" || mw_die "v6 route in big failed"
APPMESH_EGRESS_IGNORED_PORTS=$ports APPMESH_EGRESS_IGNORED_IP=$cidrs init_in big
mw_expect_eq "(f) init with 100 ports and 300 CIDRs exits 0" 0 "$RC" || echo "# stderr: $ERR"
BIG=$(cookie big)
mw_expect_eq "(f) status lists 22 and the 100 ports, sorted" \
	"$(jq -c . <<<"[22,$ports]")" "$(wl "$BIG" | jq -c .ignored_ports)"
mw_expect_eq "(f) status lists the 300 CIDRs" \
	"$(tr , '\n' <<<"$cidrs" | jq -R . | jq -sc sort)" \
	"$(wl "$BIG" | jq -c '.ignored_addresses | sort')"
mw_expect_eq "(f) the 16th port (20015) is ignored" "$(up4 p20015 10.250.4.2 20015)" \
	"$(conn big 10.250.4.2 20015)"
mw_expect_eq "(f) the 100th port (20099) is ignored" "$(up4 p20099 10.250.4.2 20099)" \
	"$(conn big 10.250.4.2 20099)"
mw_expect_eq "(f) the 256th v4 CIDR is ignored" "$(up4 up 10.251.255.7 8080)" \
	"$(conn big 10.251.255.7 8080)"
mw_expect_eq "(f) the 300th CIDR (v6) is ignored" "UPSTREAM up local=[fd00:251:2c::7]:8080" \
	"$(conn big fd00:251:2c::7 8080)"
mw_expect_eq "(f) other ports still intercepted" "$(sc4 10.250.4.2 8080)" \
	"$(conn big 10.250.4.2 8080)"
mw_expect_eq "(f) counters: redirect 1, port 2, addr 2" "1 0 0 0 2 2 0 0" "$(ctr "$BIG")"

# --- (h) unload -------------------------------------------------------------------------------
mw_expect_match "(h) before unload, programs are attached to the test cgroup" "connect4" \
	"$(bpftool cgroup show "$MW_CG" 2>&1)"
out=$("$MESHWARP" unload 2>&1)
mw_expect_eq "(h) unload exits 0" 0 $? || echo "# unload: $out"
mw_expect_eq "(h) no pins left" no "$([ -e "$MW_PIN" ] && echo yes || echo no)"
mw_expect_eq "(h) nothing attached to the test cgroup" "" "$(bpftool cgroup show "$MW_CG" 2>&1)"
mw_expect_eq "(h) pod goes direct after unload" "$(up4 up 10.250.1.2 8080)" \
	"$(conn pod 10.250.1.2 8080)"
mw_expect_eq "(h) pod2 goes direct after unload" "$(up4 up 10.250.2.2 8080)" \
	"$(conn pod2 10.250.2.2 8080)"
out=$("$MESHWARP" unload 2>&1)
mw_expect_eq "(h) unload twice exits 0" 0 $?
"$MESHWARP" status -j >/dev/null 2>&1
mw_expect_eq "(g) status after unload exits 3" 3 $?

mw_test_end
