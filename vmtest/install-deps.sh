#!/usr/bin/env bash
# Host dependencies of `make vmtest` (Debian packages). Idempotent, non-interactive, root.
# The project's own build/test dependencies come from scripts/install-deps.sh; this adds what
# vmtest needs on top: qemu (TCG), a static busybox for the guest's /init, cpio and the
# compressors for the initramfs and the kernels' modules, and the tools that assemble the guest.
set -euo pipefail

say() { printf 'vmtest/install-deps: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (apt-get install)" >&2
	exit 1
fi

pkgs=(
	# the machine
	qemu-system-x86
	# the guest root: a static busybox for /init, packed with cpio, compressed with zstd
	busybox-static cpio zstd xz-utils
	# fetching kernels with apt-get download (our own apt config) and unpacking them
	apt dpkg debian-archive-keyring ca-certificates
	# bpftool for verifier statistics in the guest (also a build dependency)
	bpftool
	# the peers and tools the guest's test run needs (the same list as scripts/install-deps.sh;
	# vmtest copies the host's binaries into the guest, so they must exist here)
	haproxy nginx-light iptables iproute2 curl util-linux jq socat kmod
	coreutils mawk sed grep findutils procps diffutils
)

export DEBIAN_FRONTEND=noninteractive
# Other installers (scripts/install-deps.sh) may hold apt's locks: wait for them (10 min at
# most); any other failure is final.
apt_wait() {
	local i log rc
	log=$(mktemp)
	for i in $(seq 60); do
		rc=0
		apt-get -o DPkg::Lock::Timeout=300 "$@" >"$log" 2>&1 || rc=$?
		cat "$log"
		[ "$rc" -eq 0 ] && { rm -f "$log"; return 0; }
		grep -q 'Could not get lock\|Unable to lock' "$log" || { rm -f "$log"; return 1; }
		say "apt-get $1: a lock is held by another install, retry $i in 10 s"
		sleep 10
	done
	rm -f "$log"
	return 1
}
say "apt-get update"
apt_wait update -q
say "apt-get install ${pkgs[*]}"
apt_wait install -y -q --no-install-recommends "${pkgs[@]}"
say "done"
