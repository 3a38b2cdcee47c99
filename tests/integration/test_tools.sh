#!/usr/bin/env bash
# Self-test of the harness and the test tools, without meshwarp: two namespaces over a veth,
# mwt-server upstreams, mwt-connect in v4, v6 and dual-stack form; then App Mesh's iptables rules
# (the iptables half of the equivalence tests) with mwt-sidecar as the sidecar, which must learn
# each redirected connection's original destination from conntrack's SO_ORIGINAL_DST; then
# HAProxy as the sidecar relaying curl to nginx, its session counter moving by exactly N.
#
#   pod 10.250.1.1 fd00:250::1 ==veth== up 10.250.1.2 (+.3) fd00:250::2 (+::3)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin tools

for t in mwt-sidecar mwt-server mwt-connect; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools first (make)"
done
CONNECT=$MW_TOOLS/mwt-connect

POD_IP=10.250.1.1
UP_IP=10.250.1.2
UP_IGNORED_IP=10.250.1.3
POD_IP6=fd00:250::1
UP_IP6=fd00:250::2
UP_IGNORED_IP6=fd00:250::3
SIDECAR_UID=1337

# The contract's settings (the controller's ports), set here so the test does not depend on the
# caller's environment.
export APPMESH_IGNORE_UID=$SIDECAR_UID
unset APPMESH_IGNORE_GID
export APPMESH_ENVOY_INGRESS_PORT=15000
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_APP_PORTS=9080
export APPMESH_EGRESS_IGNORED_IP="169.254.169.254,$UP_IGNORED_IP,$UP_IGNORED_IP6"
export APPMESH_EGRESS_IGNORED_PORTS=2222
export APPMESH_ENABLE_IPV6=1

mw_netns pod
mw_netns up
mw_veth pod "$POD_IP" up "$UP_IP" "$POD_IP6" "$UP_IP6"
mw_in_ns up ip addr add "$UP_IGNORED_IP/24" dev "$MW_VETH2" || mw_die "extra v4 address failed"
mw_in_ns up ip addr add "$UP_IGNORED_IP6/64" dev "$MW_VETH2" nodad || mw_die "extra v6 address"

# Upstreams (outside the test cgroup: they are not the workload).
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 8080 -n up
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 2222 -n ignored-port
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -d -p 22 -n ssh
for port in 8080 2222 22; do
	mw_wait_port up "$port" v6 || mw_die "upstream on port $port did not listen"
done

# --- the tools and the harness alone, no interception -------------------------------------------
mw_expect_eq "plain v4" "UPSTREAM up local=[::ffff:$UP_IP]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 8080)"
mw_expect_eq "plain v6" "UPSTREAM up local=[$UP_IP6]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP6" 8080)"
mw_expect_eq "plain v4-mapped client" "UPSTREAM up local=[::ffff:$UP_IP]:8080" \
	"$(mw_in_pod pod "$CONNECT" -m "$UP_IP" 8080)"
mw_expect_eq "refused" "ERR ECONNREFUSED" "$(mw_in_pod pod "$CONNECT" "$UP_IP" 8081)"
mw_in_ns up iptables -w -A INPUT -p tcp --dport 8082 -j DROP || mw_die "DROP rule failed"
mw_expect_eq "timeout" "ERR ETIMEDOUT" "$(mw_in_pod pod "$CONNECT" -t 300 "$UP_IP" 8082)"
mw_expect_eq "usage error exits 2" "2" \
	"$(mw_in_pod pod "$CONNECT" not-an-ip 1 2>/dev/null; echo $?)"
mw_expect_eq "peer runs in the test cgroup" "0::/$MW_ID" \
	"$(mw_in_pod pod cat /proc/self/cgroup | grep '^0::')"
mw_expect_eq "peer runs in the pod netns" "$(stat -L -c 'net:[%i]' "/run/netns/$(mw_ns pod)")" \
	"$(mw_in_pod pod readlink /proc/self/ns/net)"
# shellcheck disable=SC2016 # expanded by the inner shell, as uid 1337
mw_expect_eq "--uid drops to 1337:1337" "1337 1337 1337" \
	"$(mw_in_pod pod --uid 1337 sh -c 'echo "$(id -u) $(id -g) $(id -G)"')"

# --- App Mesh's iptables rules, mwt-sidecar as uid 1337 ---------------------------------------
mw_iptables_appmesh pod || mw_die "App Mesh iptables rules failed"
SIDECAR_LOG=$MW_RUN/sidecar.log
mw_spawn pod --uid "$SIDECAR_UID" "$MW_TOOLS/mwt-sidecar" -d -p 15001 -l "$SIDECAR_LOG"
SIDECAR_PID=$MW_PID
mw_wait_port pod 15001 v6 || mw_die "mwt-sidecar did not listen"
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not print ready"
mw_spawn pod --uid "$SIDECAR_UID" "$MW_TOOLS/mwt-server" -d -p 15000 -n ingress
mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 9080 -n app
mw_wait_port pod 15000 || mw_die "ingress listener did not listen"
mw_wait_port pod 9080 || mw_die "app did not listen"

# Redirected: the sidecar learns the original destination. v4 redirect lands on 127.0.0.1,
# which the dual-stack sidecar sees as v4-mapped: the SOL_IP answer is the original; SOL_IPV6
# has no IPv6 conntrack entry for it.
mw_expect_eq "redirect v4 (uid 0)" "SIDECAR orig=$UP_IP:8080 orig6=ERR:ENOENT" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 8080)"
mw_expect_eq "redirect v6 (uid 0)" "SIDECAR orig=[$UP_IP6]:8080 orig6=[$UP_IP6]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP6" 8080)"
mw_expect_eq "redirect v4-mapped client" "SIDECAR orig=$UP_IP:8080 orig6=ERR:ENOENT" \
	"$(mw_in_pod pod "$CONNECT" -m "$UP_IP" 8080)"
mw_expect_eq "redirect a closed port too" "SIDECAR orig=$UP_IP:8081 orig6=ERR:ENOENT" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 8081)"
REDIRECTED=4

# Not redirected, each for its own rule.
mw_expect_eq "local destination" "UPSTREAM app local=[::ffff:$POD_IP]:9080" \
	"$(mw_in_pod pod "$CONNECT" "$POD_IP" 9080)"
mw_expect_eq "uid 1337 goes direct (v4)" "UPSTREAM up local=[::ffff:$UP_IP]:8080" \
	"$(mw_in_pod pod --uid "$SIDECAR_UID" "$CONNECT" "$UP_IP" 8080)"
mw_expect_eq "uid 1337 goes direct (v6)" "UPSTREAM up local=[$UP_IP6]:8080" \
	"$(mw_in_pod pod --uid "$SIDECAR_UID" "$CONNECT" "$UP_IP6" 8080)"
mw_expect_eq "ignored port" "UPSTREAM ignored-port local=[::ffff:$UP_IP]:2222" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 2222)"
mw_expect_eq "port 22 always ignored" "UPSTREAM ssh local=[$UP_IP6]:22" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP6" 22)"
mw_expect_eq "ignored IP (v4)" "UPSTREAM up local=[::ffff:$UP_IGNORED_IP]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IGNORED_IP" 8080)"
mw_expect_eq "ignored IP (v6)" "UPSTREAM up local=[$UP_IGNORED_IP6]:8080" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IGNORED_IP6" 8080)"

# Ingress: from outside the pod, app ports go to the ingress listener; local clients and other
# ports do not.
mw_expect_eq "ingress app port" "UPSTREAM ingress local=[::ffff:$POD_IP]:15000" \
	"$(mw_in_ns up "$CONNECT" "$POD_IP" 9080)"
mw_expect_eq "ingress app port (v6)" "UPSTREAM ingress local=[$POD_IP6]:15000" \
	"$(mw_in_ns up "$CONNECT" "$POD_IP6" 9080)"
mw_expect_eq "ingress other port" "ERR ECONNREFUSED" "$(mw_in_ns up "$CONNECT" "$POD_IP" 9081)"

# The sidecar saw exactly the redirected connections, and wrote what it answered.
mw_expect_eq "sidecar log lines" "$REDIRECTED" "$(wc -l <"$SIDECAR_LOG")"
mw_expect_eq "sidecar log first line" "SIDECAR orig=$UP_IP:8080 orig6=ERR:ENOENT" \
	"$(head -n 1 "$SIDECAR_LOG")"

# Before the sidecar listens, redirected connections are refused (a known pain point).
mw_kill "$SIDECAR_PID"
mw_expect_eq "sidecar stopped: refused" "ERR ECONNREFUSED" \
	"$(mw_in_pod pod "$CONNECT" "$UP_IP" 8080)"

# --- HAProxy as the sidecar, nginx upstream ---------------------------------------------------
mw_nginx up "$UP_IP" 8088
mw_wait_port up 8088 v4 || mw_die "nginx did not listen"
mw_haproxy pod 15001
mw_wait_port pod 15001 v4 || mw_die "haproxy did not listen"
HAPROXY_SOCK=$MW_HAPROXY_SOCK
before=$(mw_haproxy_sessions "$HAPROXY_SOCK")
mw_expect_match "haproxy stats readable" '^[0-9]+$' "$before"
N=3
for i in $(seq "$N"); do
	mw_expect_eq "curl through haproxy #$i" "upstream $UP_IP:8088" \
		"$(mw_in_pod pod curl -sS --max-time 5 "http://$UP_IP:8088/")"
done
mw_expect_eq "haproxy sessions moved by $N" "$((before + N))" \
	"$(mw_haproxy_sessions "$HAPROXY_SOCK")"
mw_expect_eq "curl as uid 1337 goes direct" "upstream $UP_IP:8088" \
	"$(mw_in_pod pod --uid "$SIDECAR_UID" curl -sS --max-time 5 "http://$UP_IP:8088/")"
mw_expect_eq "haproxy sessions unchanged by uid 1337" "$((before + N))" \
	"$(mw_haproxy_sessions "$HAPROXY_SOCK")"

mw_test_end
