#!/usr/bin/env bash
# Install the extra Debian packages `make bench` needs, on top of scripts/install-deps.sh
# (haproxy, nginx-light, iptables, iproute2, jq, socat, gcc, make come from there).
# Idempotent and non-interactive. Leaves no iperf3 daemon running.
set -euo pipefail

say() { printf 'bench/install-deps: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (apt-get install)" >&2
	exit 1
fi

pkgs=(
	wrk          # keep-alive HTTP load (req/s, latency percentiles)
	sockperf     # small-message TCP ping-pong latency
	iperf3       # bulk TCP streams
	gnuplot-nox  # the PNG chart (pngcairo terminal)
	util-linux   # taskset, nsenter, setpriv
	procps       # ps (agent memory slot, when there is an agent)
)

export DEBIAN_FRONTEND=noninteractive
# iperf3's postinst offers to run a system daemon: never.
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections || true
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	say "all present: ${pkgs[*]}"
else
	say "apt-get update"
	apt-get update -q
	say "apt-get install ${missing[*]}"
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# In case a postinst started the iperf3 service anyway: stop the packaged daemon only.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now iperf3 >/dev/null 2>&1 || true
fi
say "done"
