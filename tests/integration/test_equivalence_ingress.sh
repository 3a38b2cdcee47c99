#!/usr/bin/env bash
# Inbound equivalence: the same connections against two pods with the same settings, one with
# App Mesh's iptables rules (nat PREROUTING REDIRECT of the app ports to the ingress port), one
# enrolled with meshwarp (sk_lookup). Each pod runs the same apps and its own mwt-sidecar on the
# ingress port as uid 1337. Every row's outcome, with the pod's own addresses written as POD and
# POD6, must be the same on both sides, and what App Mesh's rules give.
#
#   ipt 10.250.1.1 fd00:250::1 ==veth== cli 10.250.1.2 fd00:250::2
#   mw  10.250.2.1 fd00:251::1 ==veth== cli 10.250.2.2 fd00:251::2
#
# Outcomes: "SIDECAR orig=<SO_ORIGINAL_DST as Envoy asks it>" (orig6 is left out: for an IPv4
# client on a dual-stack socket conntrack answers only SOL_IP, meshwarp both, a documented
# difference), "UPSTREAM <name> local=<where it landed>", or "ERR <errno>".
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin equivalence_ingress

for t in mwt-sidecar mwt-server mwt-connect; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools first (make tests)"
done
for t in jq iptables ip6tables; do
	command -v "$t" >/dev/null || mw_die "$t is needed by this test"
done
CONNECT=$MW_TOOLS/mwt-connect
CTO=2000	# a dropped connection would end in ETIMEDOUT, a refused one in ECONNREFUSED
SIDECAR_UID=1337
INGRESS=15000

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=$SIDECAR_UID
unset APPMESH_IGNORE_GID APPMESH_EGRESS_IGNORED_IP APPMESH_EGRESS_IGNORED_PORTS
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=$INGRESS
export APPMESH_APP_PORTS=8080
export APPMESH_ENABLE_IPV6=1
unset MESHWARP_INBOUND_POLICY	# fail-closed, as iptables

declare -A POD4=([ipt]=10.250.1.1 [mw]=10.250.2.1)
declare -A POD6=([ipt]=fd00:250::1 [mw]=fd00:251::1)
declare -A SIDECAR_PID=()

mw_netns ipt
mw_netns mw
mw_netns cli
mw_veth ipt "${POD4[ipt]}" cli 10.250.1.2 "${POD6[ipt]}" fd00:250::2
mw_veth mw "${POD4[mw]}" cli 10.250.2.2 "${POD6[mw]}" fd00:251::2

# The iptables pod's processes stay outside the test cgroup, where meshwarp's cgroup programs
# are attached: that side is iptables alone.
declare -A CG=([ipt]=--no-cg [mw]="")
for side in ipt mw; do
	# shellcheck disable=SC2086 # CG is empty or one word
	mw_spawn "$side" ${CG[$side]} "$MW_TOOLS/mwt-server" -d -p 8080 -n app
	# shellcheck disable=SC2086
	mw_spawn "$side" ${CG[$side]} "$MW_TOOLS/mwt-server" -d -p 9090 -n other
	mw_wait_port "$side" 8080 v6 || mw_die "app did not listen in $side"
	mw_wait_port "$side" 9090 v6 || mw_die "other server did not listen in $side"
done

mw_iptables_appmesh ipt || mw_die "App Mesh iptables rules failed"
mw_in_ns mw "$MESHWARP" init >"$MW_TMP/init.out" 2>&1 ||
	mw_die "meshwarp init failed: $(cat "$MW_TMP/init.out")"

for side in ipt mw; do
	# shellcheck disable=SC2086
	mw_spawn "$side" --uid "$SIDECAR_UID" ${CG[$side]} "$MW_TOOLS/mwt-sidecar" -d -p "$INGRESS"
	SIDECAR_PID[$side]=$MW_PID
	mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not start in $side"
done

ingress_counters() {
	mw_in_ns mw "$MESHWARP" status -j 2>>"$MW_TMP/status-stderr.log" |
		jq -c '.workloads[] | select(.current) | .decisions.ingress'
}

# outcome SIDE WHERE ADDR PORT: one connection; WHERE is "client" (from cli) or "local" (from
# inside the pod, as uid 0). The pod's addresses become POD / POD6; orig6 is dropped.
outcome() {
	local side=$1 where=$2 addr=$3 port=$4 out
	local -a run
	if [ "$where" == client ]; then
		run=(mw_in_ns cli)
	elif [ "$side" == mw ]; then
		run=(mw_in_pod mw)
	else
		run=(mw_in_ns ipt)
	fi
	out=$("${run[@]}" "$CONNECT" -t "$CTO" "$addr" "$port")
	out=${out%% orig6=*}
	out=${out//${POD6[$side]}/POD6}
	out=${out//${POD4[$side]}/POD}
	echo "$out"
}

ROWS=()
declare -A GOT_IPT=() GOT_MW=() WANT=()

# row NAME WHERE ADDR-KIND PORT EXPECTED: ADDR-KIND is pod4, pod6 or a literal address.
row() {
	local name=$1 where=$2 kind=$3 port=$4 side addr
	ROWS+=("$name")
	WANT[$name]=$5
	for side in ipt mw; do
		case $kind in
		pod4) addr=${POD4[$side]} ;;
		pod6) addr=${POD6[$side]} ;;
		*) addr=$kind ;;
		esac
		if [ "$side" == ipt ]; then
			GOT_IPT[$name]=$(outcome "$side" "$where" "$addr" "$port")
		else
			GOT_MW[$name]=$(outcome "$side" "$where" "$addr" "$port")
		fi
	done
}

before=$(ingress_counters)
row "app port v4"                client pod4 8080 "SIDECAR orig=POD:8080"
row "app port v6"                client pod6 8080 "SIDECAR orig=[POD6]:8080"
row "other port v4"              client pod4 9090 "UPSTREAM other local=[::ffff:POD]:9090"
row "other port v6"              client pod6 9090 "UPSTREAM other local=[POD6]:9090"
row "local via pod address"      local  pod4 8080 "UPSTREAM app local=[::ffff:POD]:8080"
row "local via 127.0.0.1"        local  127.0.0.1 8080 "UPSTREAM app local=[::ffff:127.0.0.1]:8080"
for side in ipt mw; do
	mw_kill "${SIDECAR_PID[$side]}"
done
row "sidecar not listening v4"   client pod4 8080 "ERR ECONNREFUSED"
row "sidecar not listening v6"   client pod6 8080 "ERR ECONNREFUSED"
after=$(ingress_counters)

printf '# %-26s | %-44s | %-44s | %s\n' row "iptables" "meshwarp" ""
for name in "${ROWS[@]}"; do
	same=same
	[ "${GOT_IPT[$name]}" == "${GOT_MW[$name]}" ] || same=DIFFERENT
	printf '# %-26s | %-44s | %-44s | %s\n' "$name" "${GOT_IPT[$name]}" "${GOT_MW[$name]}" "$same"
done

for name in "${ROWS[@]}"; do
	mw_expect_eq "$name: iptables as App Mesh" "${WANT[$name]}" "${GOT_IPT[$name]}"
	mw_expect_eq "$name: meshwarp == iptables" "${GOT_IPT[$name]}" "${GOT_MW[$name]}"
done

# meshwarp's own account of the rows: each decided once, for the reason the row is about.
mw_expect_eq "meshwarp counters for the rows" \
	"redirect=2 local=2 port=2 no_listener_refused=2" \
	"$(jq -rn --argjson a "${before:-null}" --argjson b "${after:-null}" '
		if $a == null or $b == null then "no counters"
		else [$b | to_entries[] | select(.value != $a[.key]) | "\(.key)=\(.value - $a[.key])"]
		     | if length == 0 then "none" else join(" ") end end')"

mw_test_end
