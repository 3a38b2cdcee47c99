#!/usr/bin/env bash
# Fetches the kernels of vmtest/kernels from Debian's archive into vmtest/cache/, with an apt
# configuration of its own (vmtest/cache/apt: sources, lists, state), so the machine's /etc/apt
# and its package state are never touched.
#
#   vmtest/fetch.sh [NAME...]          fetch (or find in the cache) these kernels (default: all)
#   vmtest/fetch.sh --check-updates    print, per line of vmtest/kernels, what its suite offers now,
#                                      and the newest cloud kernel of every suite
#
# For each kernel NAME it leaves vmtest/cache/kernels/NAME/ with
#   vmlinuz     the kernel image
#   modules/    its /lib/modules/<release> tree (every module, as shipped)
#   release     `uname -r` of that kernel
#   source      "SUITE PACKAGE=VERSION ..." of the packages it came from (the cache key)
#
# Environment:
#   VMTEST_KERNELS          the kernels file (default vmtest/kernels)
#   VMTEST_KERNEL_VERSIONS  pinned (default): the file's versions; latest: what each suite has now;
#                           pinned-or-latest: the pin while the suite (or the cache) has it, else
#                           what the suite has now, said loudly (CI: Debian's security and
#                           backports suites drop a version when they publish the next one, and a
#                           red CI for that would block every change)
#   VMTEST_MIRROR           Debian mirror (default http://deb.debian.org)
#   VMTEST_APT_MAX_AGE      seconds before the package lists are refreshed (default 21600)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${VMTEST_CACHE:-$here/cache}
kernels_file=${VMTEST_KERNELS:-$here/kernels}
versions=${VMTEST_KERNEL_VERSIONS:-pinned}
mirror=${VMTEST_MIRROR:-http://deb.debian.org}
max_age=${VMTEST_APT_MAX_AGE:-21600}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'vmtest: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# kernels_lines: "NAME SUITE PACKAGE VERSION" of every line of the kernels file.
kernels_lines() {
	[ -r "$kernels_file" ] || die "no kernels file $kernels_file"
	awk '!/^[[:space:]]*(#|$)/ {
		if (NF != 4) { printf "%s:%d: want NAME SUITE PACKAGE VERSION, got: %s\n", FILENAME, NR, $0 > "/dev/stderr"; exit 1 }
		print $1, $2, $3, $4 }' "$kernels_file"
}

aptdir=$cache/apt
apt_opts=(
	-o "Dir::Etc::sourcelist=$aptdir/sources.list"
	-o "Dir::Etc::sourceparts=$aptdir/sources.list.d"
	-o "Dir::Etc::preferences=$aptdir/preferences"
	-o "Dir::Etc::preferencesparts=$aptdir/preferences.d"
	-o "Dir::State=$aptdir/state"
	-o "Dir::State::status=$aptdir/state/status"
	-o "Dir::Cache=$aptdir/cache"
	-o "APT::Architecture=amd64" -o "APT::Architectures=amd64"
	-o "Acquire::Languages=none"
)

# apt_setup SUITE...: our sources list: one line per suite, security suites from debian-security.
apt_setup() {
	local s new
	mkdir -p "$aptdir/sources.list.d" "$aptdir/preferences.d" "$aptdir/state/lists/partial" \
		"$aptdir/cache/archives/partial"
	: >>"$aptdir/state/status"
	[ -r "$keyring" ] || die "$keyring missing: run vmtest/install-deps.sh (debian-archive-keyring)"
	new=$(for s in "$@"; do
		case $s in
		*-security) echo "deb [signed-by=$keyring] $mirror/debian-security $s main" ;;
		*) echo "deb [signed-by=$keyring] $mirror/debian $s main" ;;
		esac
	done | sort -u)
	if [ "$new" != "$(cat "$aptdir/sources.list" 2>/dev/null)" ]; then
		printf '%s\n' "$new" >"$aptdir/sources.list"
		rm -f "$aptdir/updated"
	fi
}

# apt_update [force]: refresh the lists when older than VMTEST_APT_MAX_AGE (or forced).
apt_update() {
	local now stamp
	now=$(date +%s)
	stamp=$(stat -c %Y "$aptdir/updated" 2>/dev/null || echo 0)
	if [ "${1:-}" != force ] && [ $((now - stamp)) -lt "$max_age" ]; then
		return 0
	fi
	say "apt-get update (own configuration in $aptdir)"
	if ! apt-get "${apt_opts[@]}" -q update >"$aptdir/update.log" 2>&1; then
		cat "$aptdir/update.log" >&2
		die "apt-get update failed (is Debian's archive reachable through $mirror?)"
	fi
	touch "$aptdir/updated"
}

acache() { apt-cache "${apt_opts[@]}" "$@" 2>/dev/null; }

# field PKG[=VER|/SUITE] FIELD: a control field of that package from our lists.
field() {
	acache show "$1" | awk -v f="$2:" '$1 == f { sub(/^[^:]*: */, ""); print; exit }'
}

# suite_has SUITE PKG: the version of PKG in SUITE ("" when none).
suite_has() {
	acache show "$2/$1" | awk '$1 == "Version:" { print $2; exit }'
}

# suite_image SUITE: "PACKAGE VERSION" of the cloud kernel the suite's meta-package points to.
suite_image() {
	local deps
	deps=$(acache show "linux-image-cloud-amd64/$1" | awk '$1 == "Depends:" { sub(/^Depends: */, ""); print; exit }')
	tr ',' '\n' <<<"$deps" | sed -nE 's/^ *(linux-image-[^ ]*-cloud-amd64) \(= ([^)]*)\).*/\1 \2/p' | head -n 1
}

# closure PACKAGE VERSION: the package and the packages of the same kernel ABI it depends on
# (7.x: linux-binary-, linux-modules-, linux-base-), as PKG=VER lines.
closure() {
	local pkg=$1 ver=$2 abi dep todo seen=" "
	abi=${pkg#linux-image-}
	todo=("$pkg=$ver")
	while [ "${#todo[@]}" -gt 0 ]; do
		dep=${todo[0]}
		todo=("${todo[@]:1}")
		[[ $seen == *" $dep "* ]] && continue
		seen="$seen$dep "
		echo "$dep"
		while read -r d v; do
			[ -n "$d" ] && todo+=("$d=$v")
		done < <(field "$dep" Depends | tr ',|' '\n\n' |
			sed -nE "s/^ *([^ ]*$(sed 's/[.+]/\\&/g' <<<"$abi")) \(= ([^)]*)\).*/\1 \2/p")
	done
}

check_updates() {
	local name suite pkg ver now
	mapfile -t lines < <(kernels_lines)
	apt_setup $(printf '%s\n' "${lines[@]}" | awk '{ print $2 }') \
		bullseye-security bookworm bookworm-security bookworm-backports trixie trixie-security \
		trixie-backports sid
	apt_update force
	echo "# what each suite offers now (NAME SUITE PACKAGE VERSION):"
	for l in "${lines[@]}"; do
		read -r name suite pkg ver <<<"$l"
		now=$(suite_image "$suite")
		if [ -z "$now" ]; then
			printf '%-5s %-18s (no linux-image-cloud-amd64 in %s)\n' "$name" "$suite" "$suite"
		elif [ "$now" == "$pkg $ver" ]; then
			printf '%-5s %-18s %-40s %s   # = pinned\n' "$name" "$suite" $now
		else
			printf '%-5s %-18s %-40s %s   # pinned: %s %s\n' "$name" "$suite" $now "$pkg" "$ver"
		fi
	done
	echo "# the cloud kernel of every suite:"
	for suite in bullseye-security bookworm bookworm-security bookworm-backports trixie \
		trixie-security trixie-backports sid; do
		printf '%-18s %s\n' "$suite" "$(suite_image "$suite")"
	done
}

# fetch_one NAME SUITE PACKAGE VERSION
fetch_one() {
	local name=$1 suite=$2 pkg=$3 ver=$4 kdir want p deb tmp rel img mods missing=()
	kdir=$cache/kernels/$name
	mkdir -p "$cache/debs"

	if [ "$versions" == latest ]; then
		apt_update
		read -r pkg ver < <(suite_image "$suite") ||
			die "kernel $name: $suite has no linux-image-cloud-amd64"
		say "kernel $name: latest in $suite is $pkg $ver"
	fi

	# The package set: from the cache when we have fetched it before, else from the lists.
	if [ -s "$cache/debs/$pkg=$ver.set" ]; then
		mapfile -t want <"$cache/debs/$pkg=$ver.set"
	else
		apt_update
		if [ -z "$(field "$pkg=$ver" Version)" ]; then
			apt_update force
		fi
		if [ -z "$(field "$pkg=$ver" Version)" ] && [ "$versions" == pinned-or-latest ]; then
			local was="$pkg $ver"
			read -r pkg ver < <(suite_image "$suite") ||
				die "kernel $name: $suite has no linux-image-cloud-amd64"
			say "WARNING: kernel $name: the pinned $was is not in $suite any more;" \
				"booting what it has now, $pkg $ver. Update vmtest/kernels" \
				"(vmtest/fetch.sh --check-updates prints today's lines)."
		fi
		if [ -z "$(field "$pkg=$ver" Version)" ]; then
			local now
			now=$(suite_image "$suite")
			die "kernel $name: $pkg $ver is not in $suite any more${now:+ (it has $now now)}" \
				"and not in $cache/debs. Update vmtest/kernels (vmtest/fetch.sh --check-updates" \
				"prints today's lines) or run with VMTEST_KERNEL_VERSIONS=latest."
		fi
		mapfile -t want < <(closure "$pkg" "$ver")
		printf '%s\n' "${want[@]}" >"$cache/debs/$pkg=$ver.set"
	fi

	want_key="$suite ${want[*]}"
	if [ "$(cat "$kdir/source" 2>/dev/null)" == "$want_key" ] && [ -s "$kdir/vmlinuz" ] &&
	   [ -s "$kdir/modules/modules.dep" ]; then
		say "kernel $name: $(cat "$kdir/release") (cached)"
		return 0
	fi

	for p in "${want[@]}"; do
		deb=$(deb_path "$p")
		[ -s "$deb" ] || missing+=("$p")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		apt_update
		say "kernel $name: downloading ${missing[*]}"
		tmp=$(mktemp -d "$cache/debs/.dl.XXXXXX")
		if ! (cd "$tmp" && apt-get "${apt_opts[@]}" -q download "${missing[@]}") \
			>"$tmp.log" 2>&1; then
			cat "$tmp.log" >&2
			rm -rf "$tmp" "$tmp.log"
			die "kernel $name: apt-get download ${missing[*]} failed"
		fi
		for p in "${missing[@]}"; do
			mv "$tmp"/"${p%%=*}"_*.deb "$(deb_path "$p")"
		done
		rm -rf "$tmp" "$tmp.log"
	fi

	say "kernel $name: unpacking"
	rm -rf "$kdir" "$kdir.tmp"
	mkdir -p "$kdir.tmp/root"
	for p in "${want[@]}"; do
		dpkg-deb -x "$(deb_path "$p")" "$kdir.tmp/root"
	done
	img=$(find_in "$kdir.tmp/root" boot usr/lib/modules lib/modules -- -maxdepth 2 -type f \
		-name 'vmlinuz*')
	[ -n "$img" ] || die "kernel $name: no vmlinuz in ${want[*]}"
	mods=$(find_in "$kdir.tmp/root" lib/modules usr/lib/modules -- -mindepth 1 -maxdepth 1 -type d)
	[ -n "$mods" ] || die "kernel $name: no modules directory in ${want[*]}"
	rel=$(basename "$mods")
	mv "$img" "$kdir.tmp/vmlinuz"
	mv "$mods" "$kdir.tmp/modules"
	# The packages leave modules.dep and the aliases to depmod at install time.
	if [ ! -s "$kdir.tmp/modules/modules.dep" ]; then
		mkdir -p "$kdir.tmp/depmod/lib/modules"
		ln -s ../../../modules "$kdir.tmp/depmod/lib/modules/$rel"
		depmod -b "$kdir.tmp/depmod" "$rel" || die "kernel $name: depmod $rel failed"
		rm -rf "$kdir.tmp/depmod"
	fi
	cfg=$(find_in "$kdir.tmp" root/boot modules -- -maxdepth 1 -type f -name 'config*')
	[ -n "$cfg" ] && mv "$cfg" "$kdir.tmp/config"
	rm -rf "$kdir.tmp/root"
	echo "$rel" >"$kdir.tmp/release"
	echo "$want_key" >"$kdir.tmp/source"
	mv "$kdir.tmp" "$kdir"
	say "kernel $name: $rel from $suite (${want[*]})"
}

# find_in ROOT DIR... -- FIND-ARGS: the first match under those of ROOT/DIR... that exist.
find_in() {
	local root=$1 d dirs=()
	shift
	while [ "$1" != -- ]; do
		[ -d "$root/$1" ] && dirs+=("$root/$1")
		shift
	done
	shift
	[ "${#dirs[@]}" -gt 0 ] || return 0
	find "${dirs[@]}" "$@" | head -n 1
}

deb_path() { echo "$cache/debs/${1//[:~]/_}.deb"; }

main() {
	local l name suite pkg ver sel=("$@") lines
	if [ "${1:-}" == --check-updates ]; then
		check_updates
		return
	fi
	mapfile -t lines < <(kernels_lines)
	# shellcheck disable=SC2046
	apt_setup $(printf '%s\n' "${lines[@]}" | awk '{ print $2 }')
	for l in "${lines[@]}"; do
		read -r name suite pkg ver <<<"$l"
		if [ "${#sel[@]}" -gt 0 ] && [[ " ${sel[*]} " != *" $name "* ]]; then
			continue
		fi
		fetch_one "$name" "$suite" "$pkg" "$ver"
	done
}

main "$@"
