#!/usr/bin/env bash
# Inbound interception: `meshwarp init` with APPMESH_ENVOY_INGRESS_PORT and APPMESH_APP_PORTS
# attaches an sk_lookup program to the pod's namespace, which hands new connections from outside
# the pod to an app port to the sidecar's ingress listener, and the sidecar learns the original
# destination (getsockname, SO_ORIGINAL_DST). Clients are mwt-connect / mwt-reuse / curl in
# namespaces of their own; every case checks what the client got and the exact movement of the
# pod's ingress decision counters (`status -j`).
#
#   cli  10.250.1.2 fd00:250::2 ==veth== pod 10.250.1.1 fd00:250::1
#   cli3 10.250.3.2 fd00:253::2 ==veth== pod 10.250.3.1 fd00:253::1   (added after init)
#
#   pod: apps on 8080 and 8081 (APPMESH_APP_PORTS), another server on 9090, the sidecar
#        (mwt-sidecar, dual-stack, uid 1337) on 15000, all in the test cgroup; later HAProxy
#        as the sidecar in front of nginx as the app on 8081.
#
# Order: fail-closed before the sidecar listens; steering v4/v6 with SO_ORIGINAL_DST and the
# accepted socket's address; TIME_WAIT reuse; other port; local clients; sidecar restart; an
# interface added after init; APPMESH_ENABLE_IPV6=0; fail-open; HAProxy (and a second HAProxy on
# the same port, SO_REUSEPORT, that exits); init without ingress/app ports; init disable; a
# sidecar listening before init is adopted.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin ingress

for t in mwt-sidecar mwt-server mwt-connect mwt-reuse; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools first (make tests)"
done
for t in jq curl haproxy nginx socat bpftool; do
	command -v "$t" >/dev/null || mw_die "$t is needed by this test"
done
CONNECT=$MW_TOOLS/mwt-connect
REUSE=$MW_TOOLS/mwt-reuse

POD_IP=10.250.1.1
CLI_IP=10.250.1.2
POD_IP6=fd00:250::1
CLI_IP6=fd00:250::2
POD3_IP=10.250.3.1
CLI3_IP=10.250.3.2
POD3_IP6=fd00:253::1
CLI3_IP6=fd00:253::2
SIDECAR_UID=1337
OTHER_UID=1000		# a process of the pod that is neither root nor the sidecar
INGRESS=15000
# A connect that is dropped rather than refused ends here with ETIMEDOUT, not ECONNREFUSED.
CTO=2000

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=$SIDECAR_UID
unset APPMESH_IGNORE_GID APPMESH_EGRESS_IGNORED_IP APPMESH_EGRESS_IGNORED_PORTS
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=$INGRESS
export APPMESH_APP_PORTS=8080,8081
export APPMESH_ENABLE_IPV6=1
unset MESHWARP_INBOUND_POLICY

# ---------------------------------------------------------------------------------------------
# Helpers.

# init [VAR=VALUE | -u VAR]...: `meshwarp init` in the pod with these changes to the environment.
# Its output is in $MW_TMP/init.out.
init() {
	mw_in_ns pod env "$@" "$MESHWARP" init >"$MW_TMP/init.out" 2>&1
}

# stderr goes to a log that the harness shows when the test fails.
status_json() {
	mw_in_ns pod "$MESHWARP" status -j 2>>"$MW_TMP/status-stderr.log"
}

# wl JQ-FILTER: a field of the pod's workload (the one status marks current), compact JSON.
wl() {
	status_json | jq -c ".workloads[] | select(.current) | $1"
}

stat_get() {
	status_json | jq -r ".stats.$1"
}

# Ingress counters: snap takes a reference; delta_of A B prints what moved from A to B, in
# status order ("redirect=2 port=1"), "none" when nothing did; expect_delta NAME WANT compares
# what moved since the reference with WANT and makes the current values the new reference.
snap() {
	SNAP=$(wl '.decisions.ingress')
}

delta_of() {
	jq -rn --argjson a "${1:-null}" --argjson b "${2:-null}" '
		if $a == null or $b == null then "no counters"
		else [$b | to_entries[] | select(.value != $a[.key]) | "\(.key)=\(.value - $a[.key])"]
		     | if length == 0 then "none" else join(" ") end end'
}

expect_delta() {
	local now
	now=$(wl '.decisions.ingress')
	mw_expect_eq "$1: counters" "$2" "$(delta_of "$SNAP" "$now")"
	SNAP=$now
}

SIDECAR_LOG=$MW_RUN/sidecar.log
SIDECAR_PID=
sidecar_start() {
	mw_spawn pod --uid "$SIDECAR_UID" "$MW_TOOLS/mwt-sidecar" -d -p "$INGRESS" -l "$SIDECAR_LOG"
	SIDECAR_PID=$MW_PID
	mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not start"
}

sidecar_stop() {
	mw_kill "$SIDECAR_PID"
	SIDECAR_PID=
}

sidecar_lines() {
	if [ -f "$SIDECAR_LOG" ]; then wc -l <"$SIDECAR_LOG"; else echo 0; fi
}

# The sidecar's answer for a v4 client on its dual-stack socket: SOL_IP and SOL_IPV6 both.
sidecar4() { echo "SIDECAR orig=$1:$2 orig6=[::ffff:$1]:$2"; }
sidecar6() { echo "SIDECAR orig=[$1]:$2 orig6=[$1]:$2"; }
app4() { echo "UPSTREAM $1 local=[::ffff:$2]:$3"; }
app6() { echo "UPSTREAM $1 local=[$2]:$3"; }

# wait_listeners N: until N sockets listen on the ingress port in the pod (~5 s at most).
wait_listeners() {
	local i
	for i in $(seq 50); do
		[ "$(mw_in_ns pod ss -Hltn "sport = :$INGRESS" | wc -l)" == "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# TIME_WAIT sockets in NS on local port LPORT from peer port PPORT: "local peer" per line.
time_wait() {
	mw_in_ns "$1" ss -Htn state time-wait "( sport = :$2 and dport = :$3 )" |
		awk '{ print $3, $4 }'
}

# sk_lookup links attached to the pod's namespace (bpftool's view, not meshwarp's).
POD_NETNS_INO=
netns_links() {
	bpftool -j link show 2>/dev/null |
		jq --argjson ino "$POD_NETNS_INO" \
		   '[.[] | select(.type == "netns" and .netns_ino == $ino and
				  .attach_type == "sk_lookup")] | length'
}

# wait_netns_links N: until bpftool counts N (~5 s at most). The kernel releases a link after
# its last reference from a work queue, so an unpinned link may linger for a moment.
wait_netns_links() {
	local i
	for i in $(seq 50); do
		[ "$(netns_links)" == "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# haproxy_ingress NS PORT TARGET [NAME]: HAProxy as the ingress sidecar, a plain TCP frontend on
# PORT relaying to TARGET (the app). Sets MW_PID, MW_LOG, HAPROXY_SOCK (its stats socket).
haproxy_ingress() {
	local port=$2 target=$3 name=${4:-a} cfg
	cfg=$MW_TMP/haproxy-ingress-$name.cfg
	HAPROXY_SOCK=$MW_RUN/haproxy-ingress-$name.sock
	cat >"$cfg" <<EOF
global
	stats socket $HAPROXY_SOCK mode 666 level admin
	maxconn 256

defaults
	mode tcp
	timeout connect 5s
	timeout client 5s
	timeout server 5s

frontend ingress
	bind 0.0.0.0:$port
	default_backend app

backend app
	server app $target
EOF
	chmod 0644 "$cfg"
	mw_spawn "$1" --uid "$SIDECAR_UID:$SIDECAR_UID" haproxy -db -f "$cfg"
}

# haproxy_ingress_sessions [SOCK]: the ingress frontend's cumulative session count (stot).
haproxy_ingress_sessions() {
	echo "show stat" | socat -t 2 - "UNIX-CONNECT:${1:-$HAPROXY_SOCK}" 2>/dev/null |
		awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "stot") c = i; next }
			 $1 == "ingress" && $2 == "FRONTEND" && c { print $c; found = 1 }
			 END { if (!found) print "none" }'
}

# ---------------------------------------------------------------------------------------------
# The pod, its apps and a client namespace.

mw_netns pod
mw_netns cli
mw_veth pod "$POD_IP" cli "$CLI_IP" "$POD_IP6" "$CLI_IP6"
POD_NETNS_INO=$(stat -L -c %i "/run/netns/$(mw_ns pod)")

mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 8080 -n app8080
mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 8081 -n app8081
APP8081_PID=$MW_PID
mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 9090 -n other
for port in 8080 8081 9090; do
	mw_wait_port pod "$port" v6 || mw_die "server on port $port did not listen"
done

# --- enrolment (fail-closed by default) --------------------------------------------------------
init || mw_die "meshwarp init failed: $(cat "$MW_TMP/init.out")"
COOKIE=$(status_json | jq -r '.current_netns')
mw_expect_match "init: netns cookie known" '^[0-9]+$' "$COOKIE"
LINK=$MW_PIN/netns/$COOKIE/sk_lookup
mw_expect_eq "init: inbound attached" "true" "$(wl .inbound_attached)"
mw_expect_eq "init: policy fail-closed by default" '"fail-closed"' "$(wl .inbound_policy)"
mw_expect_eq "init: link pinned in the netns dir" "yes" "$([ -e "$LINK" ] && echo yes || echo no)"
mw_expect_eq "init: one sk_lookup link on the pod netns" "1" "$(netns_links)"
snap

# --- fail-closed: nothing listens on the ingress port yet ---------------------------------------
mw_expect_eq "fail-closed v4: refused at once" "ERR ECONNREFUSED" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "fail-closed v6: refused at once" "ERR ECONNREFUSED" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
expect_delta "fail-closed" "no_listener_refused=2"

# --- the sidecar listens (after init: sockops registers it) ------------------------------------
sidecar_start
answered=$(stat_get origdst_inbound_answered)
mw_expect_eq "app port v4 -> sidecar, orig = pod:8080" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "app port v6 -> sidecar, orig = pod:8081" "$(sidecar6 "$POD_IP6" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
mw_expect_eq "app port v4 (8081) -> sidecar" "$(sidecar4 "$POD_IP" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8081)"
mw_expect_eq "app port v6 (8080) -> sidecar" "$(sidecar6 "$POD_IP6" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8080)"
expect_delta "app ports" "redirect=4"
# v4 on the dual-stack socket: SOL_IP and SOL_IPV6 (2 each); v6: SOL_IPV6 (1 each).
mw_expect_eq "app ports: SO_ORIGINAL_DST answered 6 times" "$((answered + 6))" \
	"$(stat_get origdst_inbound_answered)"
mw_expect_eq "app ports: the sidecar logged 4 connections" "4" "$(sidecar_lines)"

# The accepted socket's own local address (getsockname; ss shows the same) is the original
# destination too. The sidecar closes first, so its side stays in TIME_WAIT where ss sees it.
mw_expect_eq "getsockname v4: client" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$REUSE" -t "$CTO" -s 41080 "$POD_IP" 8080)"
mw_expect_eq "getsockname v4: sidecar's socket" "[::ffff:$POD_IP]:8080 [::ffff:$CLI_IP]:41080" \
	"$(time_wait pod 8080 41080)"
mw_expect_eq "getsockname v6: client" "$(sidecar6 "$POD_IP6" 8081)" \
	"$(mw_in_ns cli "$REUSE" -t "$CTO" -s 41081 "$POD_IP6" 8081)"
mw_expect_eq "getsockname v6: sidecar's socket" "[$POD_IP6]:8081 [$CLI_IP6]:41081" \
	"$(time_wait pod 8081 41081)"
expect_delta "getsockname" "redirect=2"

# --- TIME_WAIT reuse: the same source port again, while the sidecar's side is in TIME_WAIT -----
# (the TIME_WAIT entry of the round above is checked there; every round below meets one).
mw_expect_eq "time-wait reuse v4: 3 more rounds from port 41080" \
	"$(for i in 1 2 3; do sidecar4 "$POD_IP" 8080; done)" \
	"$(mw_in_ns cli "$REUSE" -t "$CTO" -s 41080 -n 3 "$POD_IP" 8080)"
mw_expect_eq "time-wait reuse v6: 3 more rounds from port 41081" \
	"$(for i in 1 2 3; do sidecar6 "$POD_IP6" 8081; done)" \
	"$(mw_in_ns cli "$REUSE" -t "$CTO" -s 41081 -n 3 "$POD_IP6" 8081)"
expect_delta "time-wait reuse" "redirect=6"
mw_expect_eq "time-wait reuse: still one TIME_WAIT entry (v4)" \
	"[::ffff:$POD_IP]:8080 [::ffff:$CLI_IP]:41080" "$(time_wait pod 8080 41080)"

# --- other ports, local clients -----------------------------------------------------------------
mw_expect_eq "other port v4 -> server" "$(app4 other "$POD_IP" 9090)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 9090)"
mw_expect_eq "other port v6 -> server" "$(app6 other "$POD_IP6" 9090)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 9090)"
expect_delta "other port" "port=2"

for who in root "$OTHER_UID"; do
	uid=()
	[ "$who" == root ] || uid=(--uid "$who")
	mw_expect_eq "local ($who) via pod address -> app" "$(app4 app8080 "$POD_IP" 8080)" \
		"$(mw_in_pod pod "${uid[@]}" "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
	mw_expect_eq "local ($who) via pod v6 address -> app" "$(app6 app8081 "$POD_IP6" 8081)" \
		"$(mw_in_pod pod "${uid[@]}" "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
	mw_expect_eq "local ($who) via 127.0.0.1 -> app" "$(app4 app8080 127.0.0.1 8080)" \
		"$(mw_in_pod pod "${uid[@]}" "$CONNECT" -t "$CTO" 127.0.0.1 8080)"
	mw_expect_eq "local ($who) via ::1 -> app" "$(app6 app8081 ::1 8081)" \
		"$(mw_in_pod pod "${uid[@]}" "$CONNECT" -t "$CTO" ::1 8081)"
	expect_delta "local ($who)" "local=4"
done
mw_expect_eq "the sidecar saw only the steered connections" "12" "$(sidecar_lines)"

# --- the sidecar restarts: sockops registers the new listener, init is not run again ------------
sidecar_stop
mw_expect_eq "sidecar gone: refused" "ERR ECONNREFUSED" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
expect_delta "sidecar gone" "no_listener_refused=1"
reg_errors=$(stat_get listener_register_errors)
sidecar_start
mw_expect_eq "sidecar restarted: v4 steered again" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "sidecar restarted: v6 steered again" "$(sidecar6 "$POD_IP6" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
expect_delta "sidecar restarted" "redirect=2"
mw_expect_eq "sidecar restarted: no registration error" "$reg_errors" \
	"$(stat_get listener_register_errors)"

# --- an interface added after enrolment -----------------------------------------------------------
mw_netns cli3
mw_veth pod "$POD3_IP" cli3 "$CLI3_IP" "$POD3_IP6" "$CLI3_IP6"
mw_expect_eq "new interface v4 -> sidecar" "$(sidecar4 "$POD3_IP" 8080)" \
	"$(mw_in_ns cli3 "$CONNECT" -t "$CTO" "$POD3_IP" 8080)"
mw_expect_eq "new interface v6 -> sidecar" "$(sidecar6 "$POD3_IP6" 8081)" \
	"$(mw_in_ns cli3 "$CONNECT" -t "$CTO" "$POD3_IP6" 8081)"
mw_expect_eq "new interface, other port -> server" "$(app4 other "$POD3_IP" 9090)" \
	"$(mw_in_ns cli3 "$CONNECT" -t "$CTO" "$POD3_IP" 9090)"
expect_delta "new interface" "redirect=2 port=1"
# Local addresses are read at init (docs/architecture.md: re-run init after adding addresses);
# then a pod process using the new address as its source is a local client.
init || mw_fail "re-init after the new interface" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "re-init keeps the link" "true" "$(wl .inbound_attached)"
mw_expect_eq "local from the new address -> app" "$(app4 app8080 "$POD_IP" 8080)" \
	"$(mw_in_pod pod "$REUSE" -t "$CTO" -b "$POD3_IP" "$POD_IP" 8080)"
expect_delta "local from the new address" "local=1"

# --- APPMESH_ENABLE_IPV6=0: IPv6 clients go to the app -----------------------------------------
init APPMESH_ENABLE_IPV6=0 || mw_fail "init APPMESH_ENABLE_IPV6=0" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "ipv6 off: workload" "false" "$(wl .ipv6)"
mw_expect_eq "ipv6 off: v6 client -> app" "$(app6 app8080 "$POD_IP6" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8080)"
mw_expect_eq "ipv6 off: v4 client -> sidecar" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
expect_delta "ipv6 off" "redirect=1 no_ipv6=1"

# --- fail-open: with no sidecar listening the app gets the connection -------------------------
init MESHWARP_INBOUND_POLICY=fail-open ||
	mw_fail "init MESHWARP_INBOUND_POLICY=fail-open" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "fail-open: policy" '"fail-open"' "$(wl .inbound_policy)"
sidecar_stop
mw_expect_eq "fail-open v4: app" "$(app4 app8080 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "fail-open v6: app" "$(app6 app8081 "$POD_IP6" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
expect_delta "fail-open, no sidecar" "no_listener_open=2"
sidecar_start
mw_expect_eq "fail-open with the sidecar listening: sidecar" "$(sidecar4 "$POD_IP" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8081)"
expect_delta "fail-open, sidecar" "redirect=1"
init || mw_fail "init back to fail-closed" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "back to fail-closed" '"fail-closed"' "$(wl .inbound_policy)"
mw_expect_eq "the sidecar logged every steered connection" "18" "$(sidecar_lines)"

# --- HAProxy as the ingress sidecar, relaying to nginx, the app on 8081 -----------------------
sidecar_stop
mw_kill "$APP8081_PID"
mw_nginx pod 0.0.0.0 8081 --cg
NGINX_LOG=$MW_TMP/nginx-8081/access.log
mw_wait_port pod 8081 v4 || mw_die "nginx did not listen"
haproxy_ingress pod "$INGRESS" 127.0.0.1:8081
HAPROXY_PID=$MW_PID
HAPROXY_A=$HAPROXY_SOCK
mw_wait_port pod "$INGRESS" v4 || mw_die "haproxy did not listen"
before=$(haproxy_ingress_sessions)
mw_expect_match "haproxy: stats readable" '^[0-9]+$' "$before"
snap
N=3
for i in $(seq "$N"); do
	# nginx answers with the address the request reached it on: 127.0.0.1 means via HAProxy.
	mw_expect_eq "haproxy: curl #$i from the client reaches the app through the sidecar" \
		"upstream 127.0.0.1:8081" \
		"$(mw_in_ns cli curl -sS --max-time 5 "http://$POD_IP:8081/")"
done
mw_expect_eq "haproxy: sessions moved by $N" "$((before + N))" "$(haproxy_ingress_sessions)"
mw_expect_eq "haproxy: the app logged $N requests from the sidecar" "$N" \
	"$(grep -c '^127\.0\.0\.1 .*"GET / HTTP/1.1" 200' "$NGINX_LOG")"
# Client -> HAProxy is steered; HAProxy -> 127.0.0.1:8081 is a local client of the app.
expect_delta "haproxy" "redirect=$N local=$N"
mw_expect_eq "haproxy: a local client goes straight to the app" "upstream $POD_IP:8081" \
	"$(mw_in_pod pod curl -sS --max-time 5 "http://$POD_IP:8081/")"
mw_expect_eq "haproxy: sessions unchanged by the local client" "$((before + N))" \
	"$(haproxy_ingress_sessions)"
expect_delta "haproxy, local client" "local=1"

# A second HAProxy binds the same port (HAProxy sets SO_REUSEPORT, as a reload does) and exits,
# e.g. a reload that fails. The first one still listens, so the connections must reach it, as
# they do with iptables.
haproxy_ingress pod "$INGRESS" 127.0.0.1:8081 b
wait_listeners 2 || mw_fail "reuseport: second haproxy" "not listening on $INGRESS"
mw_kill "$MW_PID"
left=ok
wait_listeners 1 || left=$(mw_in_ns pod ss -Hltn "sport = :$INGRESS")
mw_expect_eq "reuseport: after the second haproxy exits, one listener left" "ok" "$left"
mw_expect_eq "reuseport: the first haproxy still gets the client" "upstream 127.0.0.1:8081" \
	"$(mw_in_ns cli curl -sS --max-time 5 "http://$POD_IP:8081/" 2>&1)"
mw_expect_eq "reuseport: its sessions moved by 1" "$((before + N + 1))" \
	"$(haproxy_ingress_sessions "$HAPROXY_A")"
expect_delta "reuseport" "redirect=1 local=1"
mw_kill "$HAPROXY_PID"

# --- egress only (no ingress port, no app ports): init removes the namespace's link ------------
sidecar_start
init -u APPMESH_APP_PORTS -u APPMESH_ENVOY_INGRESS_PORT ||
	mw_fail "init without ingress and app ports" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "no app ports: inbound not attached" "false" "$(wl .inbound_attached)"
mw_expect_eq "no app ports: link dir gone" "no" \
	"$([ -e "$MW_PIN/netns/$COOKIE" ] && echo yes || echo no)"
wait_netns_links 0
mw_expect_eq "no app ports: no sk_lookup link on the pod netns" "0" "$(netns_links)"
mw_expect_eq "no app ports: v4 client -> app" "$(app4 app8080 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
expect_delta "no app ports" "none"
init || mw_fail "init with app ports again" "$(cat "$MW_TMP/init.out")"
mw_expect_eq "app ports again: attached" "true" "$(wl .inbound_attached)"
mw_expect_eq "app ports again: one sk_lookup link on the pod netns" "1" "$(netns_links)"
mw_expect_eq "app ports again: v4 -> sidecar" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
expect_delta "app ports again" "redirect=1"

# --- init disable: the link goes, clients reach the app although the sidecar listens ----------
mw_expect_eq "disable: exit 0" "0" "$(mw_in_ns pod "$MESHWARP" init disable >/dev/null 2>&1; echo $?)"
mw_expect_eq "disable: link dir gone" "no" "$([ -e "$MW_PIN/netns/$COOKIE" ] && echo yes || echo no)"
mw_expect_eq "disable: workload gone from status" "0" \
	"$(status_json | jq --argjson c "$COOKIE" '[.workloads[] | select(.netns == $c)] | length')"
wait_netns_links 0
mw_expect_eq "disable: no sk_lookup link on the pod netns" "0" "$(netns_links)"
mw_expect_eq "disable: v4 client -> app" "$(app4 app8080 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "disable: v6 client -> app" "$(app6 app8080 "$POD_IP6" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8080)"

# --- a sidecar that listens before init is adopted by init ---------------------------------------
sidecar_stop
sidecar_start	# the namespace is not enrolled: sockops does not register this listener
mw_expect_eq "before init: app" "$(app4 app8080 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
init || mw_fail "init with the sidecar already listening" "$(cat "$MW_TMP/init.out")"
mw_expect_match "adopt: init registered the listener" \
	"registered 1 listener\(s\) already on ingress port $INGRESS" "$(cat "$MW_TMP/init.out")"
snap
mw_expect_eq "adopt: v4 -> sidecar" "$(sidecar4 "$POD_IP" 8080)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP" 8080)"
mw_expect_eq "adopt: v6 -> sidecar" "$(sidecar6 "$POD_IP6" 8081)" \
	"$(mw_in_ns cli "$CONNECT" -t "$CTO" "$POD_IP6" 8081)"
expect_delta "adopt" "redirect=2"
mw_expect_eq "the sidecar logged every steered connection" "21" "$(sidecar_lines)"

mw_test_end
