#!/usr/bin/env bash
# Builds the guest root of `make vmtest`: an initramfs per kernel, cached in vmtest/cache/initramfs
# and rebuilt only when an input changes.
#
#   vmtest/mkroot.sh NAME...     prints "NAME IMAGE" for each kernel (fetched by vmtest/fetch.sh)
#
# An image is three (or four) cpio archives, concatenated (the kernel unpacks them in turn):
#   base      busybox (static) as /busybox/*, and the host's own binaries that the suites run
#             (bash, coreutils, util-linux, iproute2, iptables-nft with its xtables plugins,
#             haproxy, nginx, curl, socat, jq, bpftool, kmod, ...) with their shared libraries
#             (ldd), in a merged-/usr layout like Debian's; /etc files they need.
#   heavy     executables over 16 MB that the tests name (prometheus, promtool), only in images
#             whose VMTEST_SUITE includes a test that names them
#   project   /mw: build/meshwarp, build/bpf/*.bpf.o, build/tests/{bpf,tools}/*, tests/*.sh,
#             tests/integration/*; /init and /vmtest (guest.sh, mwvm-probe); their libraries.
#   modules   the kernel's networking modules (netfilter, ipv4/ipv6, sched, bridge, veth, dummy,
#             ...) and what
#             they depend on (modules.dep), decompressed (6.12+ ship .ko.xz), depmod run on them.
# Each archive is keyed by a hash of what went into it; the image by the three keys.
#
# Environment: VMTEST_BUILD (default ./build), VMTEST_CACHE (default vmtest/cache).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${VMTEST_CACHE:-$here/cache}
build=${VMTEST_BUILD:-$repo/build}
out=$cache/initramfs
mkdir -p "$out" "$cache/bin"

say() { printf 'vmtest: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Staging helpers. STAGE is the root being filled; SEEN the paths already in it (and, for the
# project archive, those the base archive has).

declare -A SEEN=()
declare -A BASE_HAS=()
STAGE=

# canon PATH: PATH with its directory resolved (/bin/x -> /usr/bin/x), the name kept.
declare -A CANON_DIR=()
canon() {
	local d=${1%/*}
	[ -n "$d" ] || d=/
	[ -n "${CANON_DIR[$d]:-}" ] || CANON_DIR[$d]=$(realpath -m "$d")
	CANON=${CANON_DIR[$d]}/${1##*/}
}

# add_path PATH: copy a file (or recreate a symlink chain and copy its target) into STAGE at the
# same place. ELF files bring their libraries.
add_path() {
	local p=$1 dest t magic=
	canon "$p"
	dest=$CANON
	[ -n "${SEEN[$dest]:-}" ] && return 0
	[ -n "${BASE_HAS[$dest]:-}" ] && return 0
	SEEN[$dest]=1
	[ -d "$STAGE${dest%/*}" ] || mkdir -p "$STAGE${dest%/*}"
	if [ -L "$p" ]; then
		t=$(readlink "$p")
		ln -sfn "$t" "$STAGE$dest"
		[[ $t == /* ]] || t=${dest%/*}/$t
		add_path "$t"
		return 0
	fi
	[ -e "$p" ] || die "$p: no such file (run vmtest/install-deps.sh)"
	cp -p "$p" "$STAGE$dest"
	[ -f "$p" ] && LC_ALL=C read -r -n 4 magic <"$p" 2>/dev/null
	if [ "$magic" == $'\x7fELF' ]; then
		add_libs "$p"
	fi
	return 0
}

# add_libs ELF: its shared libraries, as ldd resolves them on the host.
add_libs() {
	local l lib
	while read -r l; do
		case $l in
		*"not found"*)
			# ldd of a library does not know the RUNPATH of the program that loads it
			# (systemd's private libraries): that program's ldd listed the whole closure.
			[[ $1 == */lib/* || $1 == */lib64/* ]] && continue
			die "$1: $l" ;;
		*"=> /"*) lib=${l#*=> }; lib=${lib%% (*} ;;
		/*) lib=${l%% (*} ;;
		*) continue ;;
		esac
		add_path "$lib"
	done < <(ldd "$1" 2>/dev/null || true)
}

# add_cmd NAME...: the host's command of that name (required).
add_cmd() {
	local c p
	for c in "$@"; do
		p=$(command -v "$c" 2>/dev/null) || die "$c: not on this host (run vmtest/install-deps.sh)"
		[[ $p == /* ]] || die "$c: a shell builtin or function here, not a file"
		add_path "$p"
	done
}

# add_file SRC [DEST]: a data file.
add_file() {
	local dest=${2:-$1}
	mkdir -p "$STAGE$(dirname "$dest")"
	cp -pL "$1" "$STAGE$dest"
	canon "$dest"
	SEEN[$CANON]=1
}

# pack DIR FILE: a newc cpio of DIR, owned by root, in a stable order. Not compressed: the guest
# unpacks 65 MB of plain cpio faster under TCG than it decompresses 23 MB of zstd.
pack() {
	(cd "$1" && find . -mindepth 1 | sed 's,^\./,,' | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) >"$2.tmp"
	mv "$2.tmp" "$2"
}

# ---------------------------------------------------------------------------------------------
# base

# Commands the tests name. Every word of the integration tests, the runners and guest.sh (comments
# left out) that is an executable on this host goes in, so a test that starts using a new tool
# finds it in the guest without a change here. Not: compilers, package tools and the host's
# init and power tools (the guest's are busybox's). Executables over 16 MB (prometheus,
# promtool) go to a separate archive that an image gets only when its tests name them.
DENY=" node nodejs python python3 perl ruby java go rustc cargo gcc cc c++ g++ clang clang-14
	clang-16 ld as make cmake git ssh scp sudo su login apt apt-get apt-cache dpkg dpkg-deb
	docker service systemctl init poweroff shutdown reboot halt telinit runlevel "
HEAVY_BYTES=$((16 * 1024 * 1024))

# test_words FILE...: the words of the files, comments left out.
test_words() {
	cat "$@" 2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE '[A-Za-z_][A-Za-z0-9_.+-]*' |
		LC_ALL=C sort -u
}

# discover: sets CMDS (light) and HEAVY (over 16 MB) from the words of the tests.
discover() {
	local w p
	CMDS=()
	HEAVY=()
	while read -r w; do
		[[ $DENY == *" $w "* ]] && continue
		case $(type -t "$w") in
		builtin | keyword) continue ;;
		esac
		p=$(type -P "$w" 2>/dev/null) || continue
		case $p in
		/usr/bin/* | /usr/sbin/* | /bin/* | /sbin/*) ;;
		*) continue ;;
		esac
		if [ "$(stat -Lc %s "$p")" -gt "$HEAVY_BYTES" ]; then
			HEAVY+=("$w")
		else
			CMDS+=("$w")
		fi
	done < <(test_words "$repo"/tests/integration/*.sh "$repo"/tests/run-*.sh "$here/guest/guest.sh")
}

# The base is keyed by this script and the versions of every installed package (a library
# changes only with its package), so an unchanged host reuses it without staging anything.
base_key() {
	{
		declare -f build_base canon add_path add_libs add_cmd add_file pack
		echo "${CMDS[*]}"
		dpkg-query -W -f '${Package}:${Architecture} ${Version} ${db:Status-Abbrev}\n' | LC_ALL=C sort
	} | sha256sum | cut -c1-16
}

build_base() {
	local f key
	key=$(base_key)
	if [ -s "$out/base-$key.cpio" ] && [ -s "$out/base-$key.list" ]; then
		BASE_KEY=$key
		while read -r f; do
			BASE_HAS[$f]=1
		done <"$out/base-$key.list"
		return 0
	fi
	say "initramfs: staging the base (the host's binaries and libraries)"
	STAGE=$(mktemp -d "$out/.base.XXXXXX")
	# A merged-/usr layout, as the host's (Debian 12): /bin, /sbin, /lib, /lib64 are links.
	mkdir -p "$STAGE/usr/bin" "$STAGE/usr/sbin" "$STAGE/usr/lib" "$STAGE/usr/lib64"
	for f in bin sbin lib lib64; do
		ln -s "usr/$f" "$STAGE/$f"
	done
	mkdir -p "$STAGE"/{proc,sys,dev,tmp,run,root,mnt,etc,var/tmp,var/log/nginx,var/lib/nginx}
	chmod 1777 "$STAGE/tmp" "$STAGE/var/tmp"
	# busybox for /init and anything the host list lacks; last on PATH.
	mkdir -p "$STAGE/busybox"
	cp /bin/busybox "$STAGE/busybox/busybox"
	file -b /bin/busybox 2>/dev/null | grep -q 'statically linked' ||
		ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
		die "/bin/busybox is not static: install busybox-static (vmtest/install-deps.sh)"
	for f in $(/bin/busybox --list); do
		[ "$f" == busybox ] || ln -s busybox "$STAGE/busybox/$f"
	done

	# The commands the suites, the harness (tests/integration/lib.sh) and guest.sh run.
	add_cmd bash dash sh env
	while read -r f; do
		[ -f "$f" ] || [ -L "$f" ] && add_path "$f"
	done < <(dpkg -L coreutils | grep -E '^/(usr/)?s?bin/.')
	add_cmd nsenter setpriv unshare mount umount dmesg flock getopt findmnt lsns \
		ip ss tc bridge \
		iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore \
		iptables-nft ip6tables-nft \
		haproxy nginx curl socat jq bpftool \
		grep sed awk find xargs diff cmp ps pgrep pkill sysctl \
		kmod modprobe insmod lsmod rmmod depmod modinfo \
		hostname which getent gzip openssl
	# And what the tests name (discover).
	add_cmd "${CMDS[@]}"
	# OpenSSL's configuration (the openssl CLI reads it).
	[ -e /usr/lib/ssl/openssl.cnf ] && add_path /usr/lib/ssl/openssl.cnf
	# iptables' extensions are loaded with dlopen: ldd does not see them.
	for f in /usr/lib/x86_64-linux-gnu/xtables/*.so; do
		add_path "$f"
	done

	# /etc: users (uid 1337 is the sidecar's), name services from files, what the tools read.
	cat >"$STAGE/etc/passwd" <<-'EOF'
	root:x:0:0:root:/root:/bin/bash
	sidecar:x:1337:1337:sidecar (App Mesh's ignored uid):/nonexistent:/usr/sbin/nologin
	nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$STAGE/etc/group" <<-'EOF'
	root:x:0:
	sidecar:x:1337:
	nogroup:x:65534:
	EOF
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\nservices: files\nprotocols: files\n' \
		>"$STAGE/etc/nsswitch.conf"
	printf '127.0.0.1\tlocalhost vmtest\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		>"$STAGE/etc/hosts"
	echo vmtest >"$STAGE/etc/hostname"
	ln -s /proc/self/mounts "$STAGE/etc/mtab"
	for f in /etc/protocols /etc/services /etc/ethertypes /etc/nginx/mime.types; do
		[ -e "$f" ] && add_file "$f"
	done
	[ -d /etc/iproute2 ] && mkdir -p "$STAGE/etc" && cp -a /etc/iproute2 "$STAGE/etc/"
	[ -d /etc/alternatives ] || true

	say "initramfs: packing the base ($(du -sh "$STAGE" | cut -f1))"
	pack "$STAGE" "$out/base-$key.cpio"
	# What the base has, so the project archive does not carry the same libraries again.
	(cd "$STAGE" && find . ! -type d | sed 's,^\.,,') >"$out/base-$key.list"
	find "$out" -maxdepth 1 -name 'base-*' ! -name "base-$key.*" -delete
	while read -r f; do
		BASE_HAS[$f]=1
	done <"$out/base-$key.list"
	BASE_KEY=$key
	rm -rf "$STAGE"
}

# heavy: the big executables the tests name (HEAVY), in an archive of their own.
build_heavy() {
	local key f
	HEAVY_KEY=
	[ "${#HEAVY[@]}" -gt 0 ] || return 0
	key=$( (echo "$BASE_KEY ${HEAVY[*]}"; declare -f build_heavy) | sha256sum | cut -c1-16)
	HEAVY_KEY=$key
	[ -s "$out/heavy-$key.cpio" ] && return 0
	say "initramfs: packing ${HEAVY[*]} (only for the tests that name them)"
	SEEN=()
	STAGE=$(mktemp -d "$out/.heavy.XXXXXX")
	add_cmd "${HEAVY[@]}"
	pack "$STAGE" "$out/heavy-$key.cpio"
	find "$out" -maxdepth 1 -name 'heavy-*.cpio' ! -name "heavy-$key.cpio" -delete
	rm -rf "$STAGE"
}

# suite_needs_heavy: whether the tests of VMTEST_SUITE name a heavy command.
suite_needs_heavy() {
	local suite=${VMTEST_SUITE:-full} t n w sel=()
	[ "${#HEAVY[@]}" -gt 0 ] || return 1
	[ "$suite" == bpf ] && return 1
	for t in "$repo"/tests/integration/test_*.sh; do
		n=$(basename "$t" .sh)
		if [ "$suite" == full ] || [[ ",$suite," == *",$n,"* ]] || [[ ",$suite," == *",${n#test_},"* ]]; then
			sel+=("$t")
		fi
	done
	[ "${#sel[@]}" -gt 0 ] || return 1
	for w in "${HEAVY[@]}"; do
		test_words "${sel[@]}" | grep -qxF -- "$w" && return 0
	done
	return 1
}

# ---------------------------------------------------------------------------------------------
# project

probe_bin() {
	local src=$here/tools/mwvm-probe.c bin=$cache/bin/mwvm-probe
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
		say "building $bin"
		${CC:-cc} -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -o "$bin.tmp" "$src" \
			$(pkg-config --cflags --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz
		mv "$bin.tmp" "$bin"
	fi
	echo "$bin"
}

# The project's inputs: what goes into /mw and /vmtest (their libraries come with the base's key).
project_inputs() {
	local f
	for f in "$here"/guest/* "$here/tools/mwvm-probe.c" "$build/meshwarp" "$build"/bpf/*.bpf.o \
		"$build"/tests/bpf/* "$build"/tests/tools/* "$repo"/tests/run-*.sh \
		"$repo"/tests/integration/*; do
		[ -f "$f" ] && [[ $f != *.d ]] && [[ $f != *.o || $f == *.bpf.o ]] && echo "$f"
	done
	return 0
}

build_project() {
	local f n probe key
	[ -x "$build/meshwarp" ] || die "$build/meshwarp missing: build first (make tests)"
	# A test source without its binary is a stale build: the suite would silently shrink.
	for f in "$repo"/tests/bpf/test_*.c; do
		[ -e "$f" ] || continue
		n=$(basename "$f" .c)
		[ -x "$build/tests/bpf/$n" ] || die "$build/tests/bpf/$n missing: build first (make tests)"
	done
	probe=$(probe_bin)
	key=$( (echo "$BASE_KEY"; project_inputs | grep '^/' | xargs -d '\n' sha256sum;
		declare -f build_project project_inputs probe_bin) | sha256sum | cut -c1-16)
	if [ -s "$out/project-$key.cpio" ]; then
		PROJECT_KEY=$key
		return 0
	fi
	SEEN=()
	STAGE=$(mktemp -d "$out/.project.XXXXXX")
	mkdir -p "$STAGE/mw/build/bpf" "$STAGE/mw/build/tests/bpf" "$STAGE/mw/build/tests/tools" \
		"$STAGE/mw/tests/integration" "$STAGE/vmtest"
	cp -p "$here/guest/init" "$STAGE/init"
	cp -p "$here/guest/guest.sh" "$STAGE/vmtest/guest.sh"
	cp -p "$here/guest/needs" "$STAGE/vmtest/needs"
	cp -p "$probe" "$STAGE/vmtest/mwvm-probe"
	add_libs "$probe"
	cp -p "$build/meshwarp" "$STAGE/mw/build/meshwarp"
	add_libs "$build/meshwarp"
	for f in "$build"/bpf/*.bpf.o; do
		[ -e "$f" ] && cp -p "$f" "$STAGE/mw/build/bpf/"
	done
	for d in tests/bpf tests/tools; do
		for f in "$build/$d"/*; do
			n=$(basename "$f")
			[ -f "$f" ] && [ -x "$f" ] && [[ $n != *.d ]] && [[ $n != *.o ]] || continue
			cp -p "$f" "$STAGE/mw/build/$d/$n"
			add_libs "$f"
		done
	done
	cp -p "$repo"/tests/run-*.sh "$STAGE/mw/tests/"
	cp -p "$repo"/tests/integration/* "$STAGE/mw/tests/integration/"

	say "initramfs: packing the project ($(du -sh "$STAGE" | cut -f1))"
	pack "$STAGE" "$out/project-$key.cpio"
	find "$out" -maxdepth 1 -name 'project-*.cpio' ! -name "project-$key.cpio" -delete
	PROJECT_KEY=$key
	rm -rf "$STAGE"
}

# ---------------------------------------------------------------------------------------------
# modules

# Directories (under kernel/) whose modules go in, with everything they depend on.
MOD_DIRS=(net/netfilter net/ipv4 net/ipv6 net/sched net/core net/unix net/netlink net/packet
	net/bridge drivers/net/veth.ko drivers/net/dummy.ko drivers/net/macvlan.ko drivers/net/ipvlan
	drivers/net/ifb.ko)

build_modules() {
	local name=$1 kdir=$cache/kernels/$1 rel src key stage mdir f
	[ -s "$kdir/release" ] || die "kernel $name not fetched (vmtest/fetch.sh $name)"
	rel=$(cat "$kdir/release")
	src=$kdir/modules
	# The key: the kernel packages, the selection and this script.
	key=$( (cat "$kdir/source"; printf '%s\n' "${MOD_DIRS[@]}"; declare -f build_modules pack) |
		sha256sum | cut -c1-16)
	if [ -s "$out/modules-$name-$key.cpio" ]; then
		MODULES_KEY=$key
		return 0
	fi
	say "initramfs: modules of $name ($rel)"
	stage=$(mktemp -d "$out/.modules.XXXXXX")
	mdir=$stage/usr/lib/modules/$rel
	mkdir -p "$mdir"
	# The wanted modules (paths as modules.dep names them), then their dependency closure.
	(
		cd "$src"
		for d in "${MOD_DIRS[@]}"; do
			for f in kernel/$d kernel/$d.xz kernel/$d.zst kernel/$d.gz; do
				if [ -e "$f" ]; then find "$f" -name '*.ko*'; fi
			done
		done
	) | LC_ALL=C sort -u >"$stage/want"
	awk -F': *' 'NR == FNR { want[$1] = 1; next }
		{ dep[$1] = $2 }
		END {
			n = 0
			for (m in want) { todo[n++] = m }
			while (n > 0) {
				m = todo[--n]
				if (m in seen) continue
				seen[m] = 1
				print m
				k = split(dep[m], d, " ")
				for (i = 1; i <= k; i++) if (!(d[i] in seen)) todo[n++] = d[i]
			}
		}' "$stage/want" "$src/modules.dep" | LC_ALL=C sort >"$stage/closure"
	while read -r f; do
		mkdir -p "$mdir/$(dirname "$f")"
		case $f in
		*.ko.xz) xz -dc "$src/$f" >"$mdir/${f%.xz}" ;;
		*.ko.zst) zstd -qdc "$src/$f" >"$mdir/${f%.zst}" ;;
		*.ko.gz) gzip -dc "$src/$f" >"$mdir/${f%.gz}" ;;
		*) cp -p "$src/$f" "$mdir/$f" ;;
		esac
	done <"$stage/closure"
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[ -e "$src/$f" ] && cp -p "$src/$f" "$mdir/"
	done
	# depmod -b wants BASE/lib/modules: point it at our usr/lib.
	ln -s usr/lib "$stage/lib"
	depmod -b "$stage" "$rel" 2>"$stage/depmod.log" || { cat "$stage/depmod.log" >&2; die "depmod $rel failed"; }
	say "initramfs: $(wc -l <"$stage/closure") modules for $name ($(du -sh "$mdir" | cut -f1))"
	rm -f "$stage/lib" "$stage/want" "$stage/closure" "$stage/depmod.log"
	pack "$stage" "$out/modules-$name-$key.cpio"
	find "$out" -maxdepth 1 -name "modules-$name-*.cpio" ! -name "modules-$name-$key.cpio" -delete
	rm -rf "$stage"
	MODULES_KEY=$key
}

# ---------------------------------------------------------------------------------------------

[ $# -gt 0 ] || die "usage: vmtest/mkroot.sh NAME..."
find "$out" -maxdepth 1 -name '.*.??????' -type d -exec rm -rf {} + 2>/dev/null || true
discover
build_base
build_project
heavy=()
if suite_needs_heavy; then
	build_heavy
	heavy=("$out/heavy-$HEAVY_KEY.cpio")
fi
for name in "$@"; do
	build_modules "$name"
	img=$out/$name.img
	want="$BASE_KEY $PROJECT_KEY $MODULES_KEY ${heavy[*]##*/}"
	if [ "$(cat "$img.key" 2>/dev/null)" != "$want" ] || [ ! -s "$img" ]; then
		cat "$out/base-$BASE_KEY.cpio" "${heavy[@]}" "$out/project-$PROJECT_KEY.cpio" \
			"$out/modules-$name-$MODULES_KEY.cpio" >"$img.tmp"
		mv "$img.tmp" "$img"
		echo "$want" >"$img.key"
	fi
	echo "$name $img"
done
