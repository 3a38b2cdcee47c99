#!/usr/bin/env bash
# `make vmtest`: boots every kernel of vmtest/kernels under qemu and runs meshwarp's BPF and
# integration suites inside, with a feature probe and verifier statistics per kernel. Prints
# "NAME: PASS|FAIL" per kernel, a summary table, the feature matrix and the verifier table, and
# exits non-zero if any kernel failed. vmtest/README.md says more.
#
#   vmtest/run.sh [NAME...]          the kernels of vmtest/kernels (default: all of them)
#   vmtest/run.sh --check-updates    what Debian's suites offer now, against the pins
#   vmtest/run.sh --report [NAME...] the report of the last run again, from its logs
#
# Environment:
#   VMTEST_SUITE    full | bpf | TEST[,TEST...] (integration test names, test_ prefix optional);
#                   the BPF suite always runs. Default: egress_peers,equivalence_egress,
#                   equivalence_ingress,features,metrics_shortcut (the whole suite is too slow
#                   under TCG for CI).
#   VMTEST_TIMEOUT  seconds per kernel, boot to power-off (default 1800; full: 5400; bpf: 300)
#   VMTEST_TEST_TIMEOUT  seconds per integration test inside a guest (default 600; the host's
#                   run-integration.sh allows 300, TCG is slower)
#   VMTEST_JOBS     kernels booted at the same time (default: the number of CPUs)
#   VMTEST_MEM      guest memory in MiB (default 1024)
#   VMTEST_KVM      auto (default): KVM only when a test boot under it works; 0: TCG; 1: KVM
#   VMTEST_UPDATE_DOCS=1  rewrite the generated part of vmtest/README.md and
#                   vmtest/verifier-baseline.tsv from this run
#   VMTEST_KERNELS, VMTEST_KERNEL_VERSIONS, VMTEST_MIRROR: see vmtest/fetch.sh
#   VMTEST_BUILD    the build directory (default build)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${VMTEST_CACHE:-$here/cache}
export VMTEST_CACHE=$cache
# The default subset: HAProxy/nginx through the egress hooks (connect4/6, sockops, getsockopt) and
# both equivalence tests against App Mesh's iptables rules (egress, and ingress with sk_lookup),
# what meshwarp says and does without each feature (features, ~10 s), and the local shortcut
# pairing, handing over and counting bytes through the agent (metrics_shortcut, 5 s natively;
# skipped by guest/needs on kernels without it, 5.10 and 6.1).
# The whole integration suite takes the better part of an hour per kernel under TCG.
default_suite=egress_peers,equivalence_egress,equivalence_ingress,features,metrics_shortcut
suite=${VMTEST_SUITE:-$default_suite}
export VMTEST_SUITE=$suite
case $suite in
bpf) def_timeout=300 ;;
full) def_timeout=5400 ;;
*) def_timeout=1800 ;;
esac
timeout_s=${VMTEST_TIMEOUT:-$def_timeout}
jobs_max=${VMTEST_JOBS:-$(nproc)}
mem=${VMTEST_MEM:-1024}
test_timeout=${VMTEST_TEST_TIMEOUT:-600}
kvm=${VMTEST_KVM:-auto}
results=$cache/results
logs=$cache/logs

say() { printf 'vmtest: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

if [ "${1:-}" == --check-updates ]; then
	exec "$here/fetch.sh" --check-updates
fi
report_only=0
if [ "${1:-}" == --report ]; then
	report_only=1
	shift
fi
if [ "${1:-}" == -h ] || [ "${1:-}" == --help ]; then
	sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get download into the cache, depmod, the guests' files)"
[[ $timeout_s =~ ^[0-9]+$ ]] && [ "$timeout_s" -ge 60 ] || die "VMTEST_TIMEOUT=$timeout_s: want seconds >= 60"
[[ $test_timeout =~ ^[1-9][0-9]*$ ]] || die "VMTEST_TEST_TIMEOUT=$test_timeout: want seconds"
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || die "VMTEST_JOBS=$jobs_max: want a positive number"
[[ $suite =~ ^[A-Za-z0-9_,-]+$ ]] || die "VMTEST_SUITE=$suite: want full, bpf or test names separated by commas"

for c in qemu-system-x86_64 cpio depmod apt-get dpkg-deb xz zstd ldd; do
	command -v "$c" >/dev/null || die "$c missing: run vmtest/install-deps.sh"
done
[ -x /bin/busybox ] || die "/bin/busybox missing: run vmtest/install-deps.sh (busybox-static)"

# The kernels: all lines of the file, or those named.
mapfile -t all_names < <(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "${VMTEST_KERNELS:-$here/kernels}")
if [ $# -gt 0 ]; then
	for n in "$@"; do
		[[ " ${all_names[*]} " == *" $n "* ]] || die "no kernel '$n' in vmtest/kernels (${all_names[*]})"
	done
	names=("$@")
else
	names=("${all_names[@]}")
fi
[ "${#names[@]}" -gt 0 ] || die "no kernels in vmtest/kernels"

# report_one NAME: the kernel's verdict line (and the reason when it failed).
report_one() {
	local name=$1 s
	s=$(cat "$results/$name.status")
	printf '%s: %s (%s s, log %s)\n' "$name" "${s%% *}" "$(cat "$results/$name.secs" 2>/dev/null)" \
		"${logs#"$repo"/}/$name.log"
	[ "${s%% *}" == PASS ] || printf '  %s\n' "${s#* }"
}

t_start=$SECONDS
mkdir -p "$results" "$logs"
declare -A image=()
declare -A pid_of=()
if [ "$report_only" -eq 1 ]; then
	for n in "${names[@]}"; do
		[ -s "$results/$n.status" ] && [ -s "$logs/$n.log" ] ||
			die "--report: no result for $n yet (run vmtest/run.sh $n)"
	done
	t_fetch=$SECONDS t_root=$SECONDS t_boot=$SECONDS
	accel=$(sed -n 's/^accel //p' "$results/run" 2>/dev/null)
else

# --- kernels and guest roots ------------------------------------------------------------------
"$here/fetch.sh" "${names[@]}" || die "fetching the kernels failed"
t_fetch=$SECONDS
while read -r n img; do
	image[$n]=$img
done < <("$here/mkroot.sh" "${names[@]}")
for n in "${names[@]}"; do
	[ -n "${image[$n]:-}" ] || die "no guest root for $n (vmtest/mkroot.sh failed)"
done
t_root=$SECONDS

# --- accelerator ------------------------------------------------------------------------------
# KVM only where a guest really boots under it: on these machines /dev/kvm may exist with a
# backend that aborts or hangs qemu. The verdict is kept per host kernel and qemu.
accel_args() {
	local verdict f out
	case $kvm in
	0) ;;
	1) echo "-accel kvm -cpu host"; return ;;
	auto)
		if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			f=$cache/kvm-$(uname -r)-$(qemu-system-x86_64 --version | head -n 1 | tr -c 'A-Za-z0-9.\n' _)
			verdict=$(cat "$f" 2>/dev/null)
			if [ -z "$verdict" ]; then
				say "checking KVM with a test boot (60 s at most)"
				out=$(timeout -k 5 60 qemu-system-x86_64 -accel kvm -cpu host -nodefaults -m 256M \
					-display none -monitor none -serial stdio -no-reboot \
					-kernel "$cache/kernels/${names[0]}/vmlinuz" \
					-append "console=ttyS0 panic=-1 rdinit=/init vmtest.kvmcheck=1" \
					-initrd "${image[${names[0]}]}" </dev/null 2>&1)
				if grep -q 'VMTEST-KVM-OK' <<<"$out"; then
					verdict=kvm
				else
					verdict=tcg
				fi
				echo "$verdict" >"$f"
			fi
			[ "$verdict" == kvm ] && { echo "-accel kvm -cpu host"; return; }
		fi
		;;
	*) die "VMTEST_KVM=$kvm: want auto, 0 or 1" ;;
	esac
	# Single-threaded TCG: the multi-threaded one panicked 7.x guests now and then here.
	echo "-accel tcg,thread=single -cpu max"
}
accel=$(accel_args)
say "accelerator: $accel; ${#names[@]} kernel(s), $jobs_max at a time, suite '$suite', ${timeout_s} s each"

# --- boot -------------------------------------------------------------------------------------
# run_kernel NAME: one guest. Leaves results/NAME.{status,secs} and logs/NAME.log.
run_kernel() {
	local name=$1 log=$logs/$1.log st=$results/$1 t0 rc line
	t0=$SECONDS
	# Pre-seeded: only the guest's own status line turns this into anything else.
	echo "FAIL no status line from the guest (crash, panic or hang)" >"$st.status"
	rm -f "$st.secs"
	# shellcheck disable=SC2086
	timeout -k 10 "$timeout_s" qemu-system-x86_64 $accel -nodefaults -smp 1 -m "$mem" \
		-display none -monitor none -serial stdio -no-reboot \
		-kernel "$cache/kernels/$name/vmlinuz" -initrd "${image[$name]}" \
		-append "console=ttyS0 panic=-1 rdinit=/init vmtest.name=$name vmtest.suite=$suite vmtest.timeout=$timeout_s vmtest.test_timeout=$test_timeout" \
		</dev/null >"$log" 2>&1
	rc=$?
	echo $((SECONDS - t0)) >"$st.secs"
	# qemu's CPU time (user+sys): under TCG it is what the guest costs, whatever else runs here.
	# (`times` in this shell: in a pipe or $(...) it would be a fresh subshell's, zero.)
	times >"$st.times"
	awk 'NR == 2 { n = split($1 " " $2, a, /[ms]/); s = 0
		for (i = 1; i < n; i += 2) s += a[i] * 60 + a[i + 1]; printf "%d\n", s + 0.5 }' \
		"$st.times" >"$st.cpu"
	rm -f "$st.times"
	line=$(tr -d '\r' <"$log" | sed -n 's/^.*VMTEST-STATUS: //p' | tail -n 1)
	if [ -n "$line" ]; then
		echo "$line" >"$st.status"
	elif [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $((SECONDS - t0)) -ge "$timeout_s" ]; }; then
		echo "FAIL timeout: no status line after $timeout_s s" >"$st.status"
	elif [ "$rc" -gt 128 ]; then
		echo "FAIL qemu killed by signal $((rc - 128)) after $((SECONDS - t0)) s (not by vmtest)" >"$st.status"
	elif grep -q 'Kernel panic' "$log"; then
		echo "FAIL kernel panic: $(grep -m1 -o 'Kernel panic.*' "$log" | tr -d '\r' | cut -c1-120)" >"$st.status"
	else
		echo "FAIL no status line from the guest (qemu exit $rc)" >"$st.status"
	fi
}

cleanup() {
	local p
	for p in "${pid_of[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM


running=()
for n in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	say "booting $n ($(cat "$cache/kernels/$n/release"))"
	run_kernel "$n" &
	pid_of[$n]=$!
done
wait
trap - INT TERM
t_boot=$SECONDS
echo "accel $accel" >"$results/run"
fi

# --- report -----------------------------------------------------------------------------------
# Parsed from the serial logs: features, meshwarp's verdict, verifier numbers, suite counts.
feature_label() {
	case $1 in
	so_netns_cookie) echo "SO_NETNS_COOKIE (5.14; without it meshwarp names namespaces by inode)" ;;
	prog_connect4) echo "cgroup/connect4 programs" ;;
	prog_sockops) echo "sockops programs" ;;
	prog_getsockopt) echo "cgroup/getsockopt programs" ;;
	prog_sk_lookup) echo "sk_lookup programs" ;;
	prog_sk_msg) echo "sk_msg programs" ;;
	prog_tc) echo "tc (sched_cls) programs" ;;
	map_sk_storage) echo "socket storage maps" ;;
	map_sockhash) echo "sockhash maps" ;;
	map_lpm_trie) echo "LPM trie maps" ;;
	map_ringbuf) echo "ring buffer maps" ;;
	netns_cookie_connect4) echo "bpf_get_netns_cookie in connect4" ;;
	netns_cookie_sockops) echo "bpf_get_netns_cookie in sockops (the same)" ;;
	netns_cookie_getsockopt) echo "bpf_get_netns_cookie in getsockopt" ;;
	netns_cookie_sk_msg) echo "bpf_get_netns_cookie in sk_msg" ;;
	netns_cookie_tc) echo "bpf_get_netns_cookie in tc" ;;
	set_retval_getsockopt) echo "bpf_set_retval in getsockopt" ;;
	uid_gid_sockops) echo "bpf_get_current_uid_gid in sockops" ;;
	bpf_loop) echo "bpf_loop" ;;
	sk_assign_tc) echo "bpf_sk_assign in tc" ;;
	prog_info_verified_insns) echo "verified_insns in prog info (5.16)" ;;
	tcx_link) echo "tcx links (6.6)" ;;
	sk_msg_link) echo "sk_msg links on a sockhash (6.10)" ;;
	*)
		local l n
		for n in "${names[@]}"; do
			l=$(clean_log "$n" | sed -n "s/^VMTEST-LABEL: $1 //p" | tail -n 1)
			[ -n "$l" ] && break
		done
		case $1 in
		mw.*) echo "meshwarp features: ${l:-${1#mw.}}" ;;
		*) echo "${l:-$1}" ;;
		esac
		;;
	esac
}

clean_log() { tr -d '\r' <"$logs/$1.log"; }

report=$cache/report.md
baseline=$here/verifier-baseline.tsv
{
	echo "Kernels ($(date -u +%Y-%m-%d), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo '+changes'), suite \`$suite\`, ${accel%% *} ${accel#* }):"
	echo
	echo "| kernel | package | result | counts | seconds | qemu CPU s |"
	echo "|---|---|---|---|---:|---:|"
	for n in "${names[@]}"; do
		s=$(cat "$results/$n.status")
		src=$(cat "$cache/kernels/$n/source")
		set -- $src
		printf '| %s | %s (%s) | %s | %s | %s | %s |\n' "$n" "${2#*=}" "$1" "${s%% *}" "${s#* }" \
			"$(cat "$results/$n.secs" 2>/dev/null)" "$(cat "$results/$n.cpu" 2>/dev/null)"
	done
	echo
	echo "Features (probed in each guest: a tiny program loaded, a map created or a link made):"
	echo
	printf '| feature |'
	printf ' %s |' "${names[@]}"
	echo
	printf '|---|'
	printf -- '---|%.0s' "${names[@]}"
	echo
	mapfile -t fids < <(for n in "${names[@]}"; do
		clean_log "$n" | sed -n 's/^VMTEST-FEATURE: \([^ ]*\) .*/\1/p'
	done | awk '!seen[$0]++')
	for f in "${fids[@]}"; do
		printf '| %s |' "$(feature_label "$f" | sed 's/|/\\|/g')"
		for n in "${names[@]}"; do
			v=$(clean_log "$n" | sed -n "s/^VMTEST-FEATURE: $f \([a-z]*\).*/\1/p" | tail -n 1)
			printf ' %s |' "${v:-?}"
		done
		echo
	done
	printf '| **meshwarp init** (throwaway netns) |'
	for n in "${names[@]}"; do
		rc=$(clean_log "$n" | sed -n 's/^VMTEST-MESHWARP: exit \([0-9]*\)$/\1/p' | tail -n 1)
		why=$(clean_log "$n" | sed -n 's/^VMTEST-MESHWARP: \(meshwarp: \)\{0,1\}kernel lacks \([^(]*\).*/lacks \2/p' |
			sed 's/ *$//' | paste -sd ';' | sed 's/;/; /g')
		if [ "$rc" == 0 ] && [ -n "$why" ]; then
			printf ' ok, degraded (%s) |' "$why"
		elif [ "$rc" == 0 ]; then
			printf ' ok |'
		elif [ -n "$rc" ]; then
			why=$(clean_log "$n" | sed -n 's/^VMTEST-MESHWARP: \(meshwarp: \)\{0,1\}kernel lacks \([^(]*\).*/lacks \2/p' |
				sed 's/ *$//' | paste -sd ';' | sed 's/;/; /g')
			printf ' refused (%s) |' "${why:-exit $rc}"
		else
			printf ' ? |'
		fi
	done
	echo
	# Integration tests not run for a feature meshwarp lacks (vmtest/guest/needs).
	for n in "${names[@]}"; do
		sk=$(clean_log "$n" | sed -n 's/^VMTEST-SKIP: \([^ ]*\) [^ ]* \(.*\)/\1 (lacks \2)/p' |
			paste -sd ';' | sed 's/;/; /g')
		[ -z "$sk" ] || { echo; echo "- $n: skipped, not passed: $sk."; }
	done
	# What meshwarp said when it refused, next to what its own probe found missing.
	for n in "${names[@]}"; do
		rc=$(clean_log "$n" | sed -n 's/^VMTEST-MESHWARP: exit \([0-9]*\)$/\1/p' | tail -n 1)
		[ -n "$rc" ] && [ "$rc" != 0 ] || continue
		said=$(clean_log "$n" | sed -n 's/^VMTEST-MESHWARP: \(meshwarp: \)\{0,1\}//p' |
			grep -v '^exit \|^no .meshwarp features' | paste -sd ';' | sed 's/;/; /g')
		missing=$(clean_log "$n" | awk '$1 == "VMTEST-LABEL:" && $0 !~ /\(optional\)$/ { req[$2] = 1 }
			$1 == "VMTEST-FEATURE:" && $2 ~ /^mw\./ && $3 == "no" && req[$2] { print $2 }' |
			while read -r id; do feature_label "$id" | sed 's/^meshwarp features: //'; done |
			paste -sd ';' | sed 's/;/; /g')
		echo
		echo "- $n: \`meshwarp init\` exited $rc saying \"${said:-nothing}\"; \`meshwarp features\` finds missing: ${missing:-nothing}."
	done
	echo
	echo "Verifier: instructions processed per program (each loaded alone, BPF_LOG_STATS);"
	echo "in brackets the change against vmtest/verifier-baseline.tsv:"
	echo
	printf '| program |'
	printf ' %s |' "${names[@]}"
	echo
	printf '|---|'
	printf -- '---:|%.0s' "${names[@]}"
	echo
	mapfile -t progs < <(for n in "${names[@]}"; do
		clean_log "$n" | sed -n 's/^VMTEST-VERIFIER: \([^ ]*\) .*/\1/p'
	done | awk '!seen[$0]++')
	for p in "${progs[@]}"; do
		printf '| %s |' "$p"
		for n in "${names[@]}"; do
			read -r _ _ _ insns verdict rest < <(clean_log "$n" | grep "^VMTEST-VERIFIER: $p " | tail -n 1)
			base=$(awk -v k="$n" -v p="$p" '$1 == k && $2 == p { print $3 }' "$baseline" 2>/dev/null)
			if [ "${verdict:-}" == ok ] && [[ $insns =~ ^[0-9]+$ ]]; then
				d=
				[[ $base =~ ^[0-9]+$ ]] && [ "$base" != "$insns" ] &&
					d=" ($(printf '%+d' $((insns - base))))"
				[ -z "$base" ] && d=" (new)"
				printf ' %s%s |' "$insns" "$d"
			elif [ "${verdict:-}" == skipped ]; then
				printf ' not loaded |'
			elif [ "${verdict:-}" == rejected ]; then
				printf ' rejected: %s |' "$(cut -c1-70 <<<"$rest" | sed 's/|/\\|/g')"
			else
				printf ' ? |'
			fi
		done
		echo
	done
} >"$report"

# The history of the verifier numbers, one line per program and kernel and run.
[ "$report_only" -eq 1 ] || {
	rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
	for n in "${names[@]}"; do
		clean_log "$n" | awk -v d="$(date -u +%FT%TZ)" -v r="$rev" -v k="$n" \
			'$1 == "VMTEST-VERIFIER:" && $5 == "ok" { print d "\t" r "\t" k "\t" $2 "\t" $4 }'
	done
} >>"$cache/verifier-history.tsv"

echo
cat "$report"
echo

if [ "${VMTEST_UPDATE_DOCS:-0}" == 1 ]; then
	{
		echo "# kernel	program	instructions processed (written by VMTEST_UPDATE_DOCS=1 make vmtest)"
		for n in "${names[@]}"; do
			clean_log "$n" | awk -v k="$n" '$1 == "VMTEST-VERIFIER:" && $5 == "ok" { print k "\t" $2 "\t" $4 }'
		done
	} >"$baseline.tmp" && mv "$baseline.tmp" "$baseline"
	# Strip the brackets (they compared against the old baseline) for the committed copy.
	awk -v rep="$report" '
		/<!-- vmtest:begin -->/ { print; while ((getline l < rep) > 0) { gsub(/ \((new|[-+][0-9]+)\)/, "", l); print l }; skip = 1; next }
		/<!-- vmtest:end -->/ { skip = 0 }
		!skip' "$here/README.md" >"$here/README.md.tmp" && mv "$here/README.md.tmp" "$here/README.md"
	say "updated vmtest/README.md and vmtest/verifier-baseline.tsv"
fi

# --- verdict ----------------------------------------------------------------------------------
pass=0
fail=0
for n in "${names[@]}"; do
	report_one "$n"
	s=$(cat "$results/$n.status")
	if [ "${s%% *}" == PASS ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
say "wall time $((SECONDS - t_start)) s (kernels $((t_fetch - t_start)) s, guest roots $((t_root - t_fetch)) s, guests $((t_boot - t_root)) s)"
echo "vmtest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
