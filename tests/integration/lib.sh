# shellcheck shell=bash
# Harness for meshwarp's integration tests: source it, then
#
#   mw_test_begin NAME          fresh id, temp dir, cgroup, pin dir name, EXIT trap
#   ... mw_netns / mw_veth / mw_spawn / mw_in_pod ... mw_expect_eq ...
#   mw_test_end                 "N passed, M failed", non-zero on any failure
#
# Everything a test makes is registered and undone by the EXIT trap, on every path (failed
# assertion, early exit, set -e, SIGINT/SIGTERM): peers are killed by PID, meshwarp is unloaded,
# namespaces (and the iptables rules that live only inside them) are deleted, processes left in
# the test cgroup are killed and the cgroup removed, the pin dir and the temp dir removed.
#
# Expectations return non-zero on failure (as test-progs' ASSERT_* return false) so a test can
# stop a branch early. Tests need not use `set -e`; under it, the first failed expectation ends
# the test (still reported as failed, and cleaned up).
#
# Rules kept here: traffic only to loopback and to addresses inside namespaces the test made;
# never the root cgroup, never the root netns.

MW_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${MESHWARP:=$MW_REPO/build/meshwarp}"
: "${MW_TOOLS:=$MW_REPO/build/tests/tools}"
export MESHWARP MW_TOOLS

MW_TEST_NAME=
MW_ID=
MW_CG=
MW_PIN=
MW_TMP=
MW_RUN=
MW_PASS=0
MW_FAIL=0
MW_ENDED=0
MW_CLEANED=0
MW_CLEANUPS=()   # shell snippets, run in reverse order
MW_NETNS=()      # full netns names, deleted after meshwarp is unloaded
MW_VETH_N=0
MW_SPAWN_N=0
MW_PID=          # PID of the last mw_spawn
MW_LOG=          # stdout+stderr file of the last mw_spawn

mw__log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Assertions, test-progs style.

mw_pass() {
	MW_PASS=$((MW_PASS + 1))
	printf '%s: PASS\n' "$1"
}

# mw_fail NAME REASON: record a failure that is not a comparison (setup went wrong, ...).
mw_fail() {
	MW_FAIL=$((MW_FAIL + 1))
	printf '%s: FAIL (%s)\n' "$1" "$2"
	return 1
}

# mw_expect_eq NAME EXPECTED ACTUAL
mw_expect_eq() {
	if [ "$2" == "$3" ]; then
		mw_pass "$1"
	else
		mw_fail "$1" "expected $2, got $3"
	fi
}

# mw_expect_match NAME REGEX ACTUAL (bash extended regex)
mw_expect_match() {
	if [[ $3 =~ $2 ]]; then
		mw_pass "$1"
	else
		mw_fail "$1" "expected a match of /$2/, got $3"
	fi
}

# mw_die MESSAGE: record a failure and end the test (the EXIT trap cleans up).
mw_die() {
	mw_fail "${MW_TEST_NAME:-setup}" "$*"
	exit 1
}

mw_test_end() {
	MW_ENDED=1
	printf '%s passed, %s failed\n' "$MW_PASS" "$MW_FAIL"
	[ "$MW_FAIL" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# Lifetime.

mw__cg2_mount() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

mw__ensure_bpffs() {
	awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { f = 1 } END { exit !f }' /proc/mounts && return 0
	mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
}

# mw_test_begin NAME
mw_test_begin() {
	local cg2 i id

	MW_TEST_NAME=${1:?mw_test_begin NAME}
	if [ "$(id -u)" -ne 0 ]; then
		echo "$MW_TEST_NAME: must run as root (namespaces, cgroups, bpffs)" >&2
		exit 1
	fi
	cg2=$(mw__cg2_mount)
	[ -n "$cg2" ] || { echo "$MW_TEST_NAME: no cgroup2 mount in /proc/mounts" >&2; exit 1; }
	mw__ensure_bpffs || { echo "$MW_TEST_NAME: cannot mount bpffs at /sys/fs/bpf" >&2; exit 1; }

	# Short (interface names stay under 15 characters) and unused by any other run; mkdir of the
	# cgroup claims it atomically against a run starting at the same time.
	MW_ID=
	for i in $(seq 20); do
		id=mw$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
		[ -e "/sys/fs/bpf/$id" ] && continue
		compgen -G "/run/netns/$id-*" >/dev/null && continue
		mkdir "$cg2/$id" 2>/dev/null && { MW_ID=$id; break; }
	done
	[ -n "$MW_ID" ] || { echo "$MW_TEST_NAME: cannot make a cgroup under $cg2" >&2; exit 1; }
	MW_CG=$cg2/$MW_ID
	MW_PIN=/sys/fs/bpf/$MW_ID

	trap 'mw__on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	MW_TMP=$(mktemp -d "/tmp/meshwarp-$MW_ID.XXXXXX") || exit 1
	chmod 0755 "$MW_TMP"
	# Files that peers running as another uid (the sidecar's 1337) create or write.
	MW_RUN=$MW_TMP/run
	mkdir -m 1777 "$MW_RUN"

	# meshwarp creates the pin dir itself when it loads; the trap removes it whatever happened.
	MESHWARP_CGROUP=$MW_CG
	MESHWARP_PIN_DIR=$MW_PIN
	export MW_ID MW_CG MW_PIN MW_TMP MW_RUN MESHWARP_CGROUP MESHWARP_PIN_DIR
	echo "# $MW_TEST_NAME: id $MW_ID, cgroup $MW_CG, pins $MW_PIN, tmp $MW_TMP"
}

# mw_require TOOL... [-- COMMAND...]: the test tools (built by make tests), meshwarp itself and the
# commands (installed by scripts/install-deps.sh) a test needs; dies naming the first one missing.
mw_require() {
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		[ -x "$MW_TOOLS/$1" ] || mw_die "$MW_TOOLS/$1 missing: build the test tools first (make tests)"
		shift
	done
	[ "${1:-}" == -- ] && shift
	[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
	while [ $# -gt 0 ]; do
		command -v "$1" >/dev/null || mw_die "$1 missing: scripts/install-deps.sh installs it"
		shift
	done
}

# mw_defer SHELL-SNIPPET: run at exit, in reverse order of registration.
mw_defer() {
	MW_CLEANUPS+=("$1")
}

mw__starttime() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086
	set -- $rest
	echo "${20}"
}

# mw_register_pid PID: kill it at exit (TERM, then KILL); the process start time is recorded so a
# recycled PID is never hit.
mw_register_pid() {
	local st
	st=$(mw__starttime "$1") || return 0
	mw_defer "mw__kill_pid $1 $st"
}

mw__kill_pid() {
	local pid=$1 st=$2 i
	[ "$(mw__starttime "$pid")" == "$st" ] || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 30); do
		[ "$(mw__starttime "$pid")" == "$st" ] || break
		# a zombie child of ours counts as gone
		[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" == Z ] && break
		sleep 0.1
	done
	if [ "$(mw__starttime "$pid")" == "$st" ] &&
	   [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
		mw__log "cleanup: pid $pid ignored SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# mw_kill PID: stop a peer started by mw_spawn now (TERM, then KILL) and reap it.
mw_kill() {
	local st
	st=$(mw__starttime "$1") || { wait "$1" 2>/dev/null; return 0; }
	mw__kill_pid "$1" "$st"
}

mw__flush_iptables() {
	local ns=$1 cmd t
	for cmd in iptables ip6tables; do
		command -v "$cmd" >/dev/null || continue
		for t in filter nat mangle raw; do
			nsenter --net="/run/netns/$ns" "$cmd" -w -t "$t" -F 2>/dev/null
			nsenter --net="/run/netns/$ns" "$cmd" -w -t "$t" -X 2>/dev/null
		done
	done
}

mw__del_netns() {
	local ns=$1 pids seen="" i
	[ -e "/run/netns/$ns" ] || return 0
	mw__flush_iptables "$ns"
	# Anything still inside was started by this test (outside the cgroup, e.g. via mw_in_ns &).
	for i in 1 2 3; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] || break
		seen="$seen $pids"
		# shellcheck disable=SC2086
		kill "-$([ "$i" -lt 3 ] && echo TERM || echo KILL)" $pids 2>/dev/null
		sleep 0.2
	done
	# shellcheck disable=SC2086
	[ -n "$seen" ] && wait $seen 2>/dev/null
	ip netns del "$ns" || mw__log "cleanup: ip netns del $ns failed"
}

mw__rm_cgroup() {
	local cg=$1 pids seen="" i
	[ -d "$cg" ] || return 0
	for i in $(seq 30); do
		# shellcheck disable=SC2046
		pids=$(cat $(find "$cg" -name cgroup.procs) 2>/dev/null)
		[ -n "$pids" ] || break
		seen="$seen $pids"
		if [ "$i" -eq 1 ]; then
			# shellcheck disable=SC2086
			kill -TERM $pids 2>/dev/null
		elif [ "$i" -lt 10 ]; then
			: # a second to exit on SIGTERM
		elif [ -e "$cg/cgroup.kill" ]; then
			echo 1 >"$cg/cgroup.kill"
		else
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
		fi
		sleep 0.1
	done
	# Reap our own children among them so nothing lingers as a zombie.
	# shellcheck disable=SC2086
	[ -n "$seen" ] && wait $seen 2>/dev/null
	for i in $(seq 20); do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] || return 0
		sleep 0.1
	done
	mw__log "cleanup: cannot remove cgroup $cg: $(tr '\n' ' ' <"$cg/cgroup.procs" 2>/dev/null)"
}

mw__dump_logs() {
	local f
	for f in "$MW_TMP"/*.log "$MW_RUN"/*.log; do
		[ -s "$f" ] || continue
		echo "# --- ${f#"$MW_TMP"/} (last 20 lines) ---"
		tail -n 20 "$f" | sed 's/^/# /'
	done
}

mw__cleanup() {
	local i out
	[ "$MW_CLEANED" -eq 1 ] && return 0
	MW_CLEANED=1
	set +e
	for ((i = ${#MW_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${MW_CLEANUPS[i]}"
	done
	if [ -n "$MW_PIN" ] && [ -d "$MW_PIN" ] && [ -x "$MESHWARP" ]; then
		# --force: the peers are gone or going; nothing is left to read.
		out=$(timeout 30 "$MESHWARP" unload --force 2>&1) ||
			mw__log "cleanup: $MESHWARP unload (pin dir $MW_PIN) failed: $out"
	fi
	for ((i = ${#MW_NETNS[@]} - 1; i >= 0; i--)); do
		mw__del_netns "${MW_NETNS[i]}"
	done
	mw__rm_cgroup "$MW_CG"
	[ -n "$MW_PIN" ] && [ -e "$MW_PIN" ] && rm -rf "$MW_PIN"
	[ -n "$MW_TMP" ] && [ -d "$MW_TMP" ] && rm -rf "$MW_TMP"
}

mw__on_exit() {
	local rc=$?
	set +e
	if [ "$MW_ENDED" -eq 0 ]; then
		mw_fail "$MW_TEST_NAME" "test ended early with status $rc"
		mw__dump_logs
		printf '%s passed, %s failed\n' "$MW_PASS" "$MW_FAIL"
		[ "$rc" -eq 0 ] && rc=1
	elif [ "$MW_FAIL" -gt 0 ]; then
		mw__dump_logs
	fi
	mw__cleanup
	exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Namespaces, links, processes.

# mw_ns NAME: the full netns name of a test namespace (unique to this run).
mw_ns() {
	echo "$MW_ID-$1"
}

# mw_netns NAME: create the namespace, register it, bring lo up.
mw_netns() {
	local ns
	ns=$(mw_ns "${1:?mw_netns NAME}")
	ip netns add "$ns" || mw_die "ip netns add $ns failed"
	MW_NETNS+=("$ns")
	ip -n "$ns" link set lo up || mw_die "lo up in $ns failed"
}

# mw_veth NS1 IP1 NS2 IP2 [IP6_1 IP6_2]: a veth pair between two test namespaces. Addresses get
# /24 (v4, 10.250.0.0/16) and /64 (v6, fd00:250::/64, nodad) unless given with a prefix.
# Sets MW_VETH1/MW_VETH2 to the interface names in NS1/NS2.
mw_veth() {
	local ns1 ns2 ip1=$2 ip2=$4 a b
	ns1=$(mw_ns "$1")
	ns2=$(mw_ns "$3")
	a=${MW_ID}v${MW_VETH_N}a
	b=${MW_ID}v${MW_VETH_N}b
	MW_VETH_N=$((MW_VETH_N + 1))
	[[ $ip1 == */* ]] || ip1=$ip1/24
	[[ $ip2 == */* ]] || ip2=$ip2/24
	ip -n "$ns1" link add "$a" type veth peer name "$b" netns "$ns2" ||
		mw_die "veth $a/$b between $ns1 and $ns2 failed"
	ip -n "$ns1" addr add "$ip1" dev "$a" || mw_die "address $ip1 on $a failed"
	ip -n "$ns2" addr add "$ip2" dev "$b" || mw_die "address $ip2 on $b failed"
	if [ $# -ge 6 ]; then
		local ip61=$5 ip62=$6
		[[ $ip61 == */* ]] || ip61=$ip61/64
		[[ $ip62 == */* ]] || ip62=$ip62/64
		ip -n "$ns1" addr add "$ip61" dev "$a" nodad || mw_die "address $ip61 on $a failed"
		ip -n "$ns2" addr add "$ip62" dev "$b" nodad || mw_die "address $ip62 on $b failed"
	fi
	ip -n "$ns1" link set "$a" up || mw_die "link $a up failed"
	ip -n "$ns2" link set "$b" up || mw_die "link $b up failed"
	export MW_VETH1=$a MW_VETH2=$b
}

# Turns "[--uid UID[:GID]]" into a setpriv prefix in MW__PRIV (and the count of words eaten in
# MW__SHIFT).
mw__parse_uid() {
	MW__PRIV=()
	MW__SHIFT=0
	if [ "${1:-}" == --uid ]; then
		local u=${2:?--uid UID[:GID]} g
		g=${u#*:}
		u=${u%%:*}
		MW__PRIV=(setpriv --reuid "$u" --regid "$g" --clear-groups)
		MW__SHIFT=2
	fi
}

# mw_in_cg CMD...: run CMD joined to the test cgroup (in the current netns).
mw_in_cg() {
	sh -c 'echo $$ > "$MW_CG/cgroup.procs" && exec "$@"' mw_in_cg "$@"
}

# mw_in_pod NS [--uid UID[:GID]] CMD...: run CMD in the test cgroup and in namespace NS.
# nsenter, not `ip netns exec`, which remounts /sys and hides the cgroup and bpf mounts.
mw_in_pod() {
	local ns
	ns=$(mw_ns "$1")
	shift
	mw__parse_uid "$@"
	shift "$MW__SHIFT"
	sh -c 'echo $$ > "$MW_CG/cgroup.procs" && ns=$1 && shift && exec nsenter --net="$ns" "$@"' \
		mw_in_pod "/run/netns/$ns" "${MW__PRIV[@]}" "$@"
}

# mw_in_ns NS [--uid UID[:GID]] CMD...: run CMD in namespace NS, outside the test cgroup (ip,
# iptables, ss, sysctl; peers that meshwarp must not see).
mw_in_ns() {
	local ns
	ns=$(mw_ns "$1")
	shift
	mw__parse_uid "$@"
	shift "$MW__SHIFT"
	nsenter --net="/run/netns/$ns" "${MW__PRIV[@]}" "$@"
}

# mw_spawn NS [--uid UID[:GID]] [--no-cg] CMD...: start a background peer in namespace NS (and the
# test cgroup unless --no-cg), register it for cleanup. Sets MW_PID and MW_LOG (its stdout and
# stderr, in the temp dir).
mw_spawn() {
	local ns cg=1 name
	ns=$(mw_ns "$1")
	shift
	mw__parse_uid "$@"
	shift "$MW__SHIFT"
	if [ "${1:-}" == --no-cg ]; then
		cg=0
		shift
	fi
	name=$(basename "$1")
	MW_SPAWN_N=$((MW_SPAWN_N + 1))
	MW_LOG=$(printf '%s/%02d-%s.log' "$MW_TMP" "$MW_SPAWN_N" "$name")
	# One process from fork to exec: $! is the peer's PID (sh, nsenter and setpriv all exec).
	sh -c '[ "$1" = 0 ] || echo $$ > "$MW_CG/cgroup.procs" || exit 126
	       ns=$2; shift 2; exec nsenter --net="$ns" "$@"' \
		mw_spawn "$cg" "/run/netns/$ns" "${MW__PRIV[@]}" "$@" >"$MW_LOG" 2>&1 </dev/null &
	MW_PID=$!
	mw_register_pid "$MW_PID"
}

# mw_wait_port NS PORT [v4|v6]: wait (~5 s) until a TCP listener on PORT exists in NS (of that
# family when given; a dual-stack [::] listener counts as v6).
mw_wait_port() {
	local ns family=() i
	ns=$(mw_ns "$1")
	case "${3:-}" in
	v4) family=(-4) ;;
	v6) family=(-6) ;;
	esac
	for i in $(seq 50); do
		[ -n "$(nsenter --net="/run/netns/$ns" ss -Hltn "${family[@]}" "sport = :$2")" ] &&
			return 0
		sleep 0.1
	done
	mw__log "mw_wait_port: nothing listens on port $2 in $ns after 5 s"
	return 1
}

# mw_wait_log FILE REGEX [TENTHS]: wait (default ~5 s) until a line of FILE matches REGEX.
mw_wait_log() {
	local i
	for i in $(seq "${3:-50}"); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	mw__log "mw_wait_log: no line matching /$2/ in $1"
	return 1
}

# ---------------------------------------------------------------------------------------------
# Peers: HAProxy as the sidecar, nginx as an upstream.

# mw_haproxy NS PORT: HAProxy as uid/gid 1337 in NS (and the test cgroup), a TCP frontend on
# 0.0.0.0:PORT relaying to the original destination (`server s 0.0.0.0:0`, HAProxy asks
# SO_ORIGINAL_DST). Sets MW_PID, MW_LOG and MW_HAPROXY_SOCK (its stats socket).
# MW_HAPROXY_TIMEOUT (client and server, default 5s) and MW_HAPROXY_MAXCONN (default 256): for
# tests with slow readers or many connections.
mw_haproxy() {
	local port=${2:?mw_haproxy NS PORT} cfg
	cfg=$MW_TMP/haproxy-$1-$port.cfg
	MW_HAPROXY_SOCK=$MW_RUN/haproxy-$1-$port.sock
	cat >"$cfg" <<EOF
global
	stats socket $MW_HAPROXY_SOCK mode 666 level admin
	maxconn ${MW_HAPROXY_MAXCONN:-256}

defaults
	mode tcp
	timeout connect 5s
	timeout client ${MW_HAPROXY_TIMEOUT:-5s}
	timeout server ${MW_HAPROXY_TIMEOUT:-5s}

frontend egress
	bind 0.0.0.0:$port
	default_backend orig

backend orig
	server s 0.0.0.0:0
EOF
	chmod 0644 "$cfg"
	mw_spawn "$1" --uid 1337:1337 haproxy -db -f "$cfg"
}

# mw_haproxy_sessions [SOCK]: the egress frontend's cumulative session count (stot).
mw_haproxy_sessions() {
	echo "show stat" | socat -t 2 - "UNIX-CONNECT:${1:-$MW_HAPROXY_SOCK}" 2>/dev/null |
		awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "stot") c = i; next }
			 $1 == "egress" && $2 == "FRONTEND" && c { print $c; found = 1 }
			 END { if (!found) print "none" }'
}

# mw_nginx NS ADDR PORT [--cg]: nginx in NS, one process in the foreground, answering every
# request with "upstream $server_addr:$server_port". Outside the test cgroup (it is an upstream)
# unless --cg (nginx as the pod's app). Sets MW_PID and MW_LOG.
mw_nginx() {
	local addr=${2:?mw_nginx NS ADDR PORT} port=${3:?mw_nginx NS ADDR PORT} dir listen
	local -a cg=(--no-cg)
	[ "${4:-}" == --cg ] && cg=()
	dir=$MW_TMP/nginx-$port
	mkdir -p "$dir"
	listen=$addr
	[[ $addr == *:* ]] && listen="[$addr]"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
	access_log $dir/access.log;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	server {
		listen $listen:$port;
		location / {
			default_type text/plain;
			return 200 "upstream \$server_addr:\$server_port\n";
		}
	}
}
EOF
	mw_spawn "$1" "${cg[@]}" nginx -e stderr -p "$dir" -c "$dir/nginx.conf"
}

# ---------------------------------------------------------------------------------------------
# The iptables half: App Mesh's proxy-init rules, inside one test namespace.

# mw__appmesh_rules FAMILY IPTABLES-COMMAND...: the rules of one family, in the contract's order.
mw__appmesh_rules() {
	local fam=$1 ports ip
	local -a ignored_ips
	shift
	"$@" -N APPMESH_EGRESS || return 1
	"$@" -A APPMESH_EGRESS -m addrtype --dst-type LOCAL -j RETURN || return 1
	if [ -n "${APPMESH_IGNORE_UID:-}" ]; then
		"$@" -A APPMESH_EGRESS -m owner --uid-owner "$APPMESH_IGNORE_UID" -j RETURN ||
			return 1
	fi
	if [ -n "${APPMESH_IGNORE_GID:-}" ]; then
		"$@" -A APPMESH_EGRESS -m owner --gid-owner "$APPMESH_IGNORE_GID" -j RETURN ||
			return 1
	fi
	ports=22
	[ -n "${APPMESH_EGRESS_IGNORED_PORTS:-}" ] && ports="$APPMESH_EGRESS_IGNORED_PORTS,22"
	"$@" -A APPMESH_EGRESS -p tcp -m multiport --dports "$ports" -j RETURN || return 1
	IFS=, read -r -a ignored_ips <<<"${APPMESH_EGRESS_IGNORED_IP:-}"
	for ip in "${ignored_ips[@]}"; do
		ip=${ip// /}
		[ -n "$ip" ] || continue
		if [[ $ip == *:* ]]; then
			[ "$fam" == 6 ] || continue
		else
			[ "$fam" == 4 ] || continue
		fi
		"$@" -A APPMESH_EGRESS -d "$ip" -j RETURN || return 1
	done
	"$@" -A APPMESH_EGRESS -p tcp -j REDIRECT --to-port "$APPMESH_ENVOY_EGRESS_PORT" || return 1
	"$@" -A OUTPUT -p tcp -j APPMESH_EGRESS || return 1

	[ -n "${APPMESH_APP_PORTS:-}" ] || return 0
	"$@" -N APPMESH_INGRESS || return 1
	"$@" -A APPMESH_INGRESS -p tcp -m multiport --dports "$APPMESH_APP_PORTS" \
		-j REDIRECT --to-port "$APPMESH_ENVOY_INGRESS_PORT" || return 1
	"$@" -A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j APPMESH_INGRESS || return 1
}

# mw_iptables_appmesh NS: App Mesh's egress (nat OUTPUT) and ingress (nat PREROUTING) rules in
# NS, from the APPMESH_* environment variables, for IPv4 and (APPMESH_ENABLE_IPV6=1) IPv6.
# Deleting the namespace removes them; cleanup also flushes them first.
mw_iptables_appmesh() {
	local ns
	ns=/run/netns/$(mw_ns "${1:?mw_iptables_appmesh NS}")
	if [ -z "${APPMESH_IGNORE_UID:-}" ] && [ -z "${APPMESH_IGNORE_GID:-}" ]; then
		mw__log "Variables APPMESH_IGNORE_UID and/or APPMESH_IGNORE_GID must be set."
		return 1
	fi
	if [ -z "${APPMESH_ENVOY_EGRESS_PORT:-}" ]; then
		mw__log "mw_iptables_appmesh: APPMESH_ENVOY_EGRESS_PORT must be set"
		return 1
	fi
	if [ -n "${APPMESH_APP_PORTS:-}" ] && [ -z "${APPMESH_ENVOY_INGRESS_PORT:-}" ]; then
		mw__log "mw_iptables_appmesh: APPMESH_APP_PORTS needs APPMESH_ENVOY_INGRESS_PORT"
		return 1
	fi
	mw__appmesh_rules 4 nsenter --net="$ns" iptables -w -t nat ||
		{ mw__log "mw_iptables_appmesh: iptables rules in $ns failed"; return 1; }
	if [ "${APPMESH_ENABLE_IPV6:-0}" == 1 ]; then
		mw__appmesh_rules 6 nsenter --net="$ns" ip6tables -w -t nat ||
			{ mw__log "mw_iptables_appmesh: ip6tables rules in $ns failed"; return 1; }
	fi
}
