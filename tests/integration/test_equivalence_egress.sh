#!/usr/bin/env bash
# Egress equivalence with App Mesh's iptables rules: the same matrix of connections runs in two
# worlds side by side, with the same APPMESH_* settings and the same upstreams:
#   ipt  App Mesh's nat rules (mw_iptables_appmesh), nothing of meshwarp (outside the cgroup)
#   mw   enrolled with `ip netns exec mw meshwarp init`, its processes in the test cgroup
# each with its own mwt-sidecar (uid 1337, dual-stack, 15001) and its own app on 8080. Each row's
# outcome is classed SIDECAR(orig=...), UPSTREAM(name local=...) or ERR(x) and the two worlds
# must agree row by row. `orig` is the answer Envoy uses. The one legitimate difference is orig6
# (SOL_IPV6) for an IPv4 destination: conntrack has no IPv6 entry (ENOENT), meshwarp answers with
# the v4-mapped address; it is reported as an expected improvement, and checked to be exactly
# that. Last, meshwarp's decision counters are compared with the packet counters of the iptables
# rules that made the same decisions (nat OUTPUT sees one packet per connection).
#
#   ipt 10.250.1.1/20 fd00:250:1::1 --.
#                                      >-- up: bridge, 10.250.1.2/20 fd00:250:1::2 (+ the rule
#   mw  10.250.1.3/20 fd00:250:1::3 --'       addresses: ignored, inside and just outside CIDRs)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin equivalence_egress

for t in mwt-sidecar mwt-server mwt-connect; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools (make tests)"
done
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
command -v iptables-save >/dev/null || mw_die "iptables missing: scripts/install-deps.sh has it"
CONNECT=$MW_TOOLS/mwt-connect

UP_IP=10.250.1.2
UP_IP6=fd00:250:1::2
declare -A OWN=([ipt]=10.250.1.1 [mw]=10.250.1.3)
declare -A OWN6=([ipt]=fd00:250:1::1 [mw]=fd00:250:1::3)
IGN_IP=10.250.1.9
IGN_IP6=fd00:250:1::9
IGN_CIDR=10.250.4.0/24
IN_CIDR=(10.250.4.0 10.250.4.255)
OUT_CIDR=(10.250.3.255 10.250.5.0)
IGN_CIDR6=fd00:250:4::/64
IN_CIDR6=(fd00:250:4::1 fd00:250:4:0:ffff:ffff:ffff:ffff)
OUT_CIDR6=(fd00:250:3:ffff:ffff:ffff:ffff:ffff fd00:250:4:1::)

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
export APPMESH_IGNORE_GID=2000
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=15000
export APPMESH_APP_PORTS=
export APPMESH_EGRESS_IGNORED_PORTS=5432
export APPMESH_EGRESS_IGNORED_IP="169.254.169.254,$IGN_IP,$IGN_CIDR,$IGN_IP6,$IGN_CIDR6"
export APPMESH_ENABLE_IPV6=1

# --- the two worlds on one segment with the upstreams ----------------------------------------
mw_netns up
mw_netns ipt
mw_netns mw
UP_NS=$(mw_ns up)
BR=${MW_ID}br
ip -n "$UP_NS" link add "$BR" type bridge mcast_snooping 0 || mw_die "bridge in up failed"
ip -n "$UP_NS" addr add "$UP_IP/20" dev "$BR" || mw_die "address on the bridge failed"
ip -n "$UP_NS" addr add "$UP_IP6/64" dev "$BR" nodad || mw_die "v6 address on the bridge failed"
for a in "$IGN_IP" "${IN_CIDR[@]}" "${OUT_CIDR[@]}"; do
	ip -n "$UP_NS" addr add "$a/32" dev "$BR" || mw_die "address $a in up failed"
done
for a in "$IGN_IP6" "${IN_CIDR6[@]}" "${OUT_CIDR6[@]}"; do
	ip -n "$UP_NS" addr add "$a/128" dev "$BR" nodad || mw_die "address $a in up failed"
done
ip -n "$UP_NS" link set "$BR" up || mw_die "bridge up failed"
k=0
for w in ipt mw; do
	ns=$(mw_ns "$w")
	a=${MW_ID}e${k}a
	b=${MW_ID}e${k}b
	k=$((k + 1))
	ip -n "$ns" link add "$a" type veth peer name "$b" netns "$UP_NS" ||
		mw_die "veth for $w failed"
	ip -n "$UP_NS" link set "$b" master "$BR" up || mw_die "bridge port $b failed"
	ip -n "$ns" addr add "${OWN[$w]}/20" dev "$a" || mw_die "address in $w failed"
	ip -n "$ns" addr add "${OWN6[$w]}/64" dev "$a" nodad || mw_die "v6 address in $w failed"
	ip -n "$ns" link set "$a" up || mw_die "link up in $w failed"
	ip -n "$ns" -6 route add fd00:250::/32 dev "$a" || mw_die "v6 route in $w failed"
done

mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 8080 -n up
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 5432 -n pg
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 22 -n ssh
for port in 8080 5432 22; do
	mw_wait_port up "$port" v6 || mw_die "upstream on port $port did not listen"
done

# The iptables world: rules, sidecar and app, nothing in the test cgroup.
mw_iptables_appmesh ipt || mw_die "App Mesh iptables rules failed"
mw_spawn ipt --uid 1337:1337 --no-cg "$MW_TOOLS/mwt-sidecar" -d -p 15001
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar in ipt did not print ready"
mw_spawn ipt --no-cg "$MW_TOOLS/mwt-server" -d -p 8080 -n app

# The meshwarp world.
out=$(ip netns exec "$(mw_ns mw)" "$MESHWARP" init 2>&1)
mw_expect_eq "meshwarp init in mw exits 0" 0 $? || mw_die "init failed: $out"
WL_NETNS=$(mw_in_ns mw "$MESHWARP" status -j | jq -r .current_netns)
mw_spawn mw --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15001
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar in mw did not print ready"
mw_spawn mw "$MW_TOOLS/mwt-server" -d -p 8080 -n app
mw_wait_port ipt 8080 v6 || mw_die "app in ipt did not listen"
mw_wait_port mw 8080 v6 || mw_die "app in mw did not listen"

# --- running a row in a world -----------------------------------------------------------------
# run_in WORLD [--uid U:G] MWT-CONNECT-ARGS...: the line the client saw. POD and POD6 in the
# arguments stand for the world's own addresses.
run_in() {
	local w=$1 x
	local -a who=() args=()
	shift
	if [ "$1" == --uid ]; then
		who=(--uid "$2")
		shift 2
	fi
	for x in "$@"; do
		x=${x/#POD6/${OWN6[$w]}}
		x=${x/#POD/${OWN[$w]}}
		args+=("$x")
	done
	if [ "$w" == mw ]; then
		mw_in_pod mw "${who[@]}" "$CONNECT" "${args[@]}"
	else
		mw_in_ns ipt "${who[@]}" "$CONNECT" "${args[@]}"
	fi
}

# class WORLD LINE: "CLASS ORIG6", the class with the world's own addresses written POD/POD6;
# ORIG6 is the sidecar's SOL_IPV6 answer ("-" for a row the sidecar did not see).
class() {
	local line=$2 own=${OWN[$1]} own6=${OWN6[$1]}
	line=${line//"::ffff:$own]"/"::ffff:POD]"}
	line=${line//"[$own6]"/"[POD6]"}
	if [[ $line =~ ^SIDECAR\ orig=([^ ]+)\ orig6=([^ ]+)$ ]]; then
		echo "SIDECAR(orig=${BASH_REMATCH[1]}) ${BASH_REMATCH[2]}"
	elif [[ $line =~ ^UPSTREAM\ ([^ ]+)\ local=([^ ]+)$ ]]; then
		echo "UPSTREAM(${BASH_REMATCH[1]}@${BASH_REMATCH[2]}) -"
	elif [[ $line =~ ^ERR\ ([^ ]+)$ ]]; then
		echo "ERR(${BASH_REMATCH[1]}) -"
	else
		echo "?(${line// /_}) -"
	fi
}

TABLE=()
ROWS=0
ROWS_OK=0
IMPROVED=0

# row NAME EXPECTED-KIND [--uid U:G] ARGS...: EXPECTED-KIND (SIDECAR, UPSTREAM or ERR) is what
# the iptables world must give, so that a broken reference cannot pass as "equal".
row() {
	local name=$1 kind=$2 ci cm o6i o6m verdict=PASS note="" orig
	shift 2
	read -r ci o6i <<<"$(class ipt "$(run_in ipt "$@")")"
	read -r cm o6m <<<"$(class mw "$(run_in mw "$@")")"
	ROWS=$((ROWS + 1))
	if [[ $ci != "$kind("* ]]; then
		verdict=FAIL
		note="iptables reference is not $kind"
	elif [ "$ci" != "$cm" ]; then
		verdict=FAIL
		note="outcomes differ"
	elif [ "$o6i" != "$o6m" ]; then
		orig=${ci#SIDECAR(orig=}
		orig=${orig%)}
		if [ "$o6i" == ERR:ENOENT ] && [[ $orig =~ ^([0-9.]+):([0-9]+)$ ]] &&
		   [ "$o6m" == "[::ffff:${BASH_REMATCH[1]}]:${BASH_REMATCH[2]}" ]; then
			note="orig6: iptables $o6i, meshwarp $o6m (expected improvement)"
			IMPROVED=$((IMPROVED + 1))
		else
			verdict=FAIL
			note="orig6 differs: iptables $o6i, meshwarp $o6m"
		fi
	fi
	[ "$verdict" == PASS ] && ROWS_OK=$((ROWS_OK + 1))
	TABLE+=("$(printf '%-44s | %-40s | %-40s | %s%s' "$name" "$ci" "$cm" "$verdict" \
		"${note:+ ($note)}")")
	if [ "$verdict" == PASS ]; then
		mw_pass "row $name"
	else
		mw_fail "row $name" "iptables $ci orig6=$o6i, meshwarp $cm orig6=$o6m: $note"
	fi
}

# Counters before the matrix: iptables' per-rule packets and meshwarp's decisions.
# ipt_counters: "redirect local uid gid port addr", v4 and v6 rules summed.
ipt_counters() {
	local cmd
	for cmd in iptables-save ip6tables-save; do
		mw_in_ns ipt "$cmd" -c -t nat
	done | awk '
		/-A APPMESH_EGRESS / {
			n = $1; sub(/^\[/, "", n); sub(/:.*/, "", n)
			if (/-j REDIRECT/) r += n
			else if (/--dst-type LOCAL/) l += n
			else if (/--uid-owner/) u += n
			else if (/--gid-owner/) g += n
			else if (/multiport/) p += n
			else if (/ -d /) a += n
		}
		END { printf "%d %d %d %d %d %d\n", r, l, u, g, p, a }'
}
mw_counters() {
	"$MESHWARP" status -j | jq -r --argjson ns "$WL_NETNS" \
		'first(.workloads[] | select(.netns == $ns)).decisions.egress
		 | [.redirect, .local, .uid, .gid, .port, .addr] | map(tostring) | join(" ")'
}
ipt_before=$(ipt_counters)
mw_before=$(mw_counters)

# --- the matrix -------------------------------------------------------------------------------
row "redirect v4" SIDECAR "$UP_IP" 8080
row "redirect v6" SIDECAR "$UP_IP6" 8080
row "redirect v4-mapped (dual-stack client)" SIDECAR -m "$UP_IP" 8080
row "redirect, nobody listens on the port" SIDECAR "$UP_IP" 8081
row "redirect uid 4242" SIDECAR --uid 4242:4242 "$UP_IP" 8080
row "local: own v4" UPSTREAM POD 8080
row "local: 127.0.0.1" UPSTREAM 127.0.0.1 8080
row "local: own v6" UPSTREAM POD6 8080
row "local: ::1" UPSTREAM ::1 8080
row "local: own v4, v4-mapped client" UPSTREAM -m POD 8080
row "uid 1337 v4" UPSTREAM --uid 1337:1337 "$UP_IP" 8080
row "uid 1337 v6" UPSTREAM --uid 1337:1337 "$UP_IP6" 8080
row "uid 1337 v4-mapped" UPSTREAM --uid 1337:1337 -m "$UP_IP" 8080
row "uid 1337, nobody listens on the port" ERR --uid 1337:1337 "$UP_IP" 8081
row "gid 2000 v4" UPSTREAM --uid 4242:2000 "$UP_IP" 8080
row "gid 2000 v6" UPSTREAM --uid 4242:2000 "$UP_IP6" 8080
row "ignored port 5432 v4" UPSTREAM "$UP_IP" 5432
row "ignored port 5432 v6" UPSTREAM "$UP_IP6" 5432
row "port 22 v4" UPSTREAM "$UP_IP" 22
row "port 22 v6" UPSTREAM "$UP_IP6" 22
row "ignored IP v4" UPSTREAM "$IGN_IP" 8080
row "ignored IP v6" UPSTREAM "$IGN_IP6" 8080
row "ignored IP v4-mapped" UPSTREAM -m "$IGN_IP" 8080
for a in "${IN_CIDR[@]}"; do
	row "in $IGN_CIDR: $a" UPSTREAM "$a" 8080
done
for a in "${IN_CIDR6[@]}"; do
	row "in $IGN_CIDR6: $a" UPSTREAM "$a" 8080
done
for a in "${OUT_CIDR[@]}"; do
	row "outside $IGN_CIDR: $a" SIDECAR "$a" 8080
done
row "outside $IGN_CIDR, v4-mapped: ${OUT_CIDR[1]}" SIDECAR -m "${OUT_CIDR[1]}" 8080
for a in "${OUT_CIDR6[@]}"; do
	row "outside $IGN_CIDR6: $a" SIDECAR "$a" 8080
done

printf '%-44s | %-40s | %-40s | %s\n' "row" "iptables (App Mesh)" "meshwarp" "verdict"
printf '%s\n' "${TABLE[@]}"
printf '%d rows, %d equivalent, %d with the orig6 improvement\n' "$ROWS" "$ROWS_OK" "$IMPROVED"
# Every IPv4 row the sidecar saw (v4 and v4-mapped clients) is one.
mw_expect_eq "orig6 improvement on every IPv4 redirect row" 7 "$IMPROVED"

# --- the counters tell the same story ---------------------------------------------------------
delta6() {
	local -a b a
	read -r -a b <<<"$1"
	read -r -a a <<<"$2"
	if [ "${#b[@]}" -ne 6 ] || [ "${#a[@]}" -ne 6 ]; then
		echo "unreadable: [$1] -> [$2]"
		return
	fi
	echo "redirect=$((a[0] - b[0])) local=$((a[1] - b[1])) uid=$((a[2] - b[2]))" \
		"gid=$((a[3] - b[3])) port=$((a[4] - b[4])) addr=$((a[5] - b[5]))"
}
ipt_d=$(delta6 "$ipt_before" "$(ipt_counters)")
mw_d=$(delta6 "$mw_before" "$(mw_counters)")
echo "iptables rule packets: $ipt_d"
echo "meshwarp decisions:    $mw_d"
mw_expect_eq "counters: meshwarp's decisions equal iptables' per-rule packet counts" \
	"$ipt_d" "$mw_d"
mw_expect_eq "counters: the matrix hit every rule" \
	"redirect=10 local=5 uid=4 gid=2 port=4 addr=7" "$mw_d"

mw_test_end
