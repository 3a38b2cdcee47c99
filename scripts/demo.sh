#!/usr/bin/env bash
# The built-in demo: installs the dependencies (Debian packages), builds meshwarp,
# builds a small world in network namespaces, sends traffic through it, shows
# `meshwarp status` with its counters moving, and tears everything down again.
#
#   sudo scripts/demo.sh [--no-install]
#
# The world: a workload namespace "pod" with a client (curl), HAProxy as the
# egress sidecar (UID 1337, `server s 0.0.0.0:0`: it dials what SO_ORIGINAL_DST
# tells it), an app on port 8080 and a sidecar on the ingress port 15000; an
# "upstream" namespace with nginx, reached over a veth pair. No iptables.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it makes namespaces and loads BPF programs): sudo $0" >&2
	exit 1
fi
if [ "${1:-}" != --no-install ]; then
	"$repo/scripts/install-deps.sh" || exit 1
fi
make -C "$repo" -j"$(nproc)" tests >/dev/null || exit 1

# The test harness gives the demo its own cgroup, pin directory and namespaces,
# and takes all of it down on exit, whatever happens.
. "$repo/tests/integration/lib.sh"
mw_test_begin demo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "A workload namespace and an upstream namespace, joined by a veth pair"
mw_netns pod
mw_netns up
mw_veth pod 10.250.7.1 up 10.250.7.2
echo "pod 10.250.7.1  <->  upstream 10.250.7.2"

step "Upstream: nginx on 10.250.7.2:80. In the pod: HAProxy as the sidecar (UID 1337) on 15001"
mw_nginx up 10.250.7.2 80
mw_haproxy pod 15001
mw_spawn pod "$MW_TOOLS/mwt-server" -d -p 8080 -n app
mw_spawn pod --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15000
mw_wait_port up 80 && mw_wait_port pod 15001 && mw_wait_port pod 8080 && mw_wait_port pod 15000 ||
	mw_die "peers did not start"

step "Enrol the pod: the App Mesh variables, as the proxy-init container got them"
export APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_APP_PORTS=8080
export APPMESH_EGRESS_IGNORED_IP=169.254.169.254 APPMESH_ENABLE_IPV6=0
env | grep '^APPMESH_' | sort
show ip netns exec "$(mw_ns pod)" "$MESHWARP" init || mw_die "init failed"

step "The app calls the upstream three times: each call goes through HAProxy"
before=$(mw_haproxy_sessions)
for i in 1 2 3; do
	printf 'curl http://10.250.7.2/ -> '
	mw_in_pod pod curl -s --max-time 5 http://10.250.7.2/
done
after=$(mw_haproxy_sessions)
echo "HAProxy sessions: $before -> $after"
mw_expect_eq "three calls through the sidecar" 3 $((after - before))

step "The sidecar's own calls (UID 1337) go straight out"
printf 'curl as uid 1337 -> '
mw_in_pod pod --uid 1337:1337 curl -s --max-time 5 http://10.250.7.2/
mw_expect_eq "sidecar's own call not redirected" "$after" "$(mw_haproxy_sessions)"

step "Inbound: the upstream calls the pod's app port 8080; the sidecar gets it and sees where it was going"
printf 'up -> 10.250.7.1:8080: '
reply=$(mw_in_ns up "$MW_TOOLS/mwt-connect" 10.250.7.1 8080)
echo "$reply"
mw_expect_match "inbound connection reached the sidecar" "orig=10.250.7.1:8080" "$reply"

step "What meshwarp saw"
show ip netns exec "$(mw_ns pod)" "$MESHWARP" status

step "Tearing down"
mw_test_end
