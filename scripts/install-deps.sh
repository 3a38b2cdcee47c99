#!/usr/bin/env bash
# Install every build and test dependency of meshwarp from Debian's packages.
# Idempotent and non-interactive. Leaves no nginx/haproxy service running (the
# packages' postinst may start them) and makes sure bpffs is mounted.
set -euo pipefail

say() { printf 'install-deps: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (apt-get install, mount)" >&2
	exit 1
fi

pkgs=(
	# build
	clang llvm libbpf-dev libelf-dev zlib1g-dev libssl-dev libnl-3-dev libnl-route-3-dev
	libjson-c-dev libyajl-dev libmicrohttpd-dev bpftool pkg-config make gcc
	# the control-plane client: libcurl with its OpenSSL backend
	libcurl4-openssl-dev
	# unit tests
	libcmocka-dev
	# integration tests: peers, netns, iptables half of the equivalence tests
	haproxy nginx-light iptables iproute2 curl util-linux jq
	# the control plane's certificates (test_controlplane.sh)
	openssl
	# talks to HAProxy's stats socket (mw_haproxy_sessions)
	socat
	# the agent's metrics: a real Prometheus server and promtool (test_metrics*.sh)
	prometheus
	# the deployment files (test_deploy.sh): systemd-analyze verify, the manifest's YAML
	systemd python3 python3-yaml
)

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
apt-get update -q
say "apt-get install ${pkgs[*]}"
apt-get install -y -q --no-install-recommends "${pkgs[@]}"

# Debian's postinst starts nginx and haproxy where it can. Tests start their own
# instances in their own netns, and the leftover check must see none.
# Only the package's own instance (its pidfile) is touched: nginx/haproxy peers of
# tests running at the same time have their own pidfiles and stay alone.
stop_service() {
	local name=$1 pidfile=$2 pid
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		say "$name: not running (no live pid in $pidfile)"
		return 0
	fi
	say "stopping $name (pid $pid from $pidfile)"
	if command -v service >/dev/null 2>&1 && [ -x "/etc/init.d/$name" ]; then
		service "$name" stop >/dev/null 2>&1 || true
	fi
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	say "$name: stopped"
}
stop_service nginx /run/nginx.pid
stop_service haproxy /run/haproxy.pid
stop_service prometheus /run/prometheus/prometheus.pid

# Keep the services from coming back at boot where systemd manages them.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	for s in nginx haproxy prometheus; do
		systemctl disable --now "$s" >/dev/null 2>&1 || true
	done
	say "systemd: nginx and haproxy disabled"
fi

if awk '$2 == "/sys/fs/bpf" && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
	say "bpffs already mounted at /sys/fs/bpf"
else
	say "mounting bpffs at /sys/fs/bpf"
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf
fi

# The benchmark's and vmtest's own packages (wrk, sockperf, iperf3, gnuplot; qemu, busybox).
repo=$(cd "$(dirname "$0")/.." && pwd)
for extra in "$repo/bench/install-deps.sh" "$repo/vmtest/install-deps.sh"; do
	if [ -x "$extra" ]; then
		say "running $extra"
		"$extra"
	fi
done

say "done"
