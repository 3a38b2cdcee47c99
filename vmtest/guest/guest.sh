#!/bin/bash
# The guest's part of `make vmtest`, started by /init once the mounts, modules and lo are up.
# The repository's test files are in /mw (build/ and tests/, as on the host).
#
# Prints, for the host (vmtest/run.sh) to parse from the serial log:
#   VMTEST-FEATURE: <id> yes|no [detail]       kernel features (mwvm-probe; mw.*: meshwarp's)
#   VMTEST-LABEL: <id> <text>                  what a feature id means (meshwarp's own rows)
#   VMTEST-MESHWARP: <line>                    what `meshwarp init` said in a throwaway netns
#   VMTEST-VERIFIER: <prog> <type> <insns> ok|rejected [reason]
#   VMTEST-SUITE: <suite> <passed> <failed> <seconds>
#   VMTEST-TEST: <integration test> <exit status> <seconds>
#   VMTEST-SKIP: <integration test> <feature id> <feature>   not run: meshwarp lacks the feature
#                                              here (vmtest/guest/needs)
# and writes the verdict ("PASS|FAIL <counts>") to /run/vmtest-status for /init to print.
#
# Kernel command line: vmtest.suite=  the integration tests to run (see vmtest/README.md),
#                      vmtest.timeout= seconds the host allows (the watchdog fires a bit earlier),
#                      vmtest.test_timeout= seconds per integration test (MW_TEST_TIMEOUT).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/busybox
cd /mw || exit 1
export MESHWARP=/mw/build/meshwarp MW_TOOLS=/mw/build/tests/tools

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^vmtest\.$1=//p" | tail -n 1; }
suite=$(arg suite | tr ',' ' ')
suite=${suite:-full}
budget=$(arg timeout)
# run-integration.sh's limit per test (300 s on the host): TCG is several times slower.
export MW_TEST_TIMEOUT=$(arg test_timeout)
[ -n "$MW_TEST_TIMEOUT" ] || unset MW_TEST_TIMEOUT
status_file=/run/vmtest-status
echo "FAIL guest: guest.sh did not finish" >"$status_file"

# Watchdog: a hung test still gets a status line naming it, before the host's timeout.
if [ -n "$budget" ] && [ "$budget" -gt 60 ]; then
	(
		sleep $((budget - 30))
		cur=$(cat /run/vmtest-current 2>/dev/null)
		echo "VMTEST-WATCHDOG: $((budget - 30)) s passed, in ${cur:-?}"
		ps -eo pid,etime,args 2>/dev/null | tail -n 40
		echo "FAIL timeout in the guest after $((budget - 30)) s (in ${cur:-?})" >"$status_file"
		dmesg -n 1
		echo "VMTEST-STATUS: $(cat "$status_file")"
		sync
		/busybox/poweroff -f
	) &
fi

# Kernel messages from here on are the suites' business (boot-time ones are only shown).
boot_lines=$(dmesg 2>/dev/null | wc -l)

section() {
	echo "##### $*"
	echo "$*" >/run/vmtest-current
}

# --- features ---------------------------------------------------------------------------------
section features
# Its own netns: the tcx probe attaches to lo for a moment.
unshare -n /vmtest/mwvm-probe features

# meshwarp's own view. `meshwarp features -j` when it exists; until then `meshwarp init` in a
# throwaway namespace and cgroup, and what it prints.
section meshwarp
mwf=$($MESHWARP features -j 2>/dev/null)
if [ -n "$mwf" ] && jq -e '.features | type == "array"' >/dev/null 2>&1 <<<"$mwf"; then
	# Rows keyed by "id" when meshwarp gives one, else by a slug of the feature's name.
	jq -r '.features[] |
		((.id // .feature // "?") | ascii_downcase | gsub("[^a-z0-9]+"; "_") | sub("^_|_$"; "")) as $id |
		"VMTEST-LABEL: mw.\($id) \(.feature // $id)\(if .required == false then " (optional)" else "" end)",
		"VMTEST-FEATURE: mw.\($id) \(if .present then "yes" else "no" end)"' <<<"$mwf"
	# What meshwarp lacks here, "id<TAB>feature" a line: the tests that need it are skipped.
	jq -r '.features[] | select(.present == false and .id != null) | "\(.id)\t\(.feature)"' \
		<<<"$mwf" >/run/vmtest-missing
else
	echo "VMTEST-MESHWARP: no 'meshwarp features -j' in this build"
fi
ip netns add vmprobe
mkdir -p /sys/fs/cgroup/vmprobe
out=$(APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001 \
	APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_APP_PORTS=8080 \
	MESHWARP_PIN_DIR=/sys/fs/bpf/vmprobe MESHWARP_CGROUP=/sys/fs/cgroup/vmprobe \
	nsenter --net=/run/netns/vmprobe timeout 120 "$MESHWARP" init 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/VMTEST-MESHWARP: /'
echo "VMTEST-MESHWARP: exit $rc"
MESHWARP_PIN_DIR=/sys/fs/bpf/vmprobe timeout 60 "$MESHWARP" unload >/dev/null 2>&1
rm -rf /sys/fs/bpf/vmprobe
rmdir /sys/fs/cgroup/vmprobe 2>/dev/null
ip netns del vmprobe

# --- verifier statistics ------------------------------------------------------------------------
# Each program alone, the linked object first (what meshwarp loads), then the rest (programs
# already seen are skipped).
section verifier
objs=()
[ -e build/bpf/meshwarp.bpf.o ] && objs+=(build/bpf/meshwarp.bpf.o)
for o in build/bpf/*.bpf.o; do
	[ "$o" == build/bpf/meshwarp.bpf.o ] || objs+=("$o")
done
if [ "${#objs[@]}" -gt 0 ] && [ -e "${objs[0]}" ]; then
	/vmtest/mwvm-probe verifier "${objs[@]}"
fi

# --- the suites -------------------------------------------------------------------------------
total_pass=0
total_fail=0
counts=

# suite_line NAME LOG SECONDS RC: adds the last "N passed, M failed" of LOG.
suite_line() {
	local name=$1 log=$2 secs=$3 rc=$4 line p f
	line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		p=0
		f=1
		echo "$name: FAIL (no summary, exit $rc)"
	else
		p=$(sed -E 's/.*(^|: )([0-9]+) passed.*/\2/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "$name: FAIL (exit $rc)"
			f=1
		fi
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	counts="$counts${counts:+; }$name: $p passed, $f failed"
	echo "VMTEST-SUITE: $name $p $f $secs"
}

# BPF suite: always.
section bpf
mapfile -t bpf_tests < <(find build/tests/bpf -maxdepth 1 -type f -name 'test_*' ! -name '*.d' \
	-perm -u+x 2>/dev/null | sort)
if [ "${#bpf_tests[@]}" -gt 0 ]; then
	start=$SECONDS
	tests/run-unit.sh "${bpf_tests[@]}" >/tmp/bpf.log 2>&1
	rc=$?
	cat /tmp/bpf.log
	suite_line bpf /tmp/bpf.log $((SECONDS - start)) "$rc"
else
	echo "bpf: no BPF tests built (build/tests/bpf/test_*)"
	counts="bpf: none built"
	echo "VMTEST-SUITE: bpf 0 0 0"
fi

# Integration suite: all of it, or the tests VMTEST_SUITE names (the others are removed from this
# throwaway copy so run-integration.sh runs exactly those).
section integration
case $suite in
bpf)
	echo "integration: skipped (VMTEST_SUITE=bpf)"
	counts="$counts; integration: skipped"
	;;
*)
	if [ "$suite" != full ]; then
		for t in tests/integration/test_*.sh; do
			n=$(basename "$t" .sh)
			keep=0
			for w in $suite; do
				[ "$n" == "$w" ] || [ "$n" == "test_$w" ] && keep=1
			done
			[ "$keep" -eq 1 ] || rm -f "$t"
		done
		echo "integration: VMTEST_SUITE=$suite: $(cd tests/integration && ls test_*.sh 2>/dev/null | tr '\n' ' ')"
	fi
	# Tests that need a feature meshwarp lacks here are not run, and the verdict says so.
	skipped=
	while read -r t ids; do
		[ -e "tests/integration/$t.sh" ] || continue
		for id in $ids; do
			what=$(awk -F'\t' -v id="$id" '$1 == id { print $2 }' /run/vmtest-missing 2>/dev/null)
			[ -n "$what" ] || continue
			echo "VMTEST-SKIP: $t $id $what"
			echo "$t: SKIP (meshwarp lacks $what on this kernel)"
			skipped="$skipped${skipped:+, }$t (lacks $id)"
			rm -f "tests/integration/$t.sh"
			break
		done
	done < <(grep -v '^[[:space:]]*\(#\|$\)' /vmtest/needs 2>/dev/null)
	start=$SECONDS
	# Per-test times from run-integration.sh's lines: "=== NAME" starts a test; "=== NAME: exit N"
	# or "NAME: FAIL (no summary line, exit status N)" ends it.
	tests/run-integration.sh 2>&1 | tee /tmp/integration.log | {
		cur=
		t0=$SECONDS
		while IFS= read -r l; do
			printf '%s\n' "$l"
			case $l in
			"=== "*": exit "*)
				[ -n "$cur" ] && echo "VMTEST-TEST: $cur ${l##*: exit } $((SECONDS - t0))"
				cur=
				;;
			"=== "*)
				cur=${l#=== }
				t0=$SECONDS
				echo "integration $cur" >/run/vmtest-current
				;;
			*": FAIL (no summary line, exit status "*)
				rc=${l##*exit status }
				[ -n "$cur" ] && echo "VMTEST-TEST: $cur ${rc%)} $((SECONDS - t0))"
				cur=
				;;
			esac
		done
	}
	rc=${PIPESTATUS[0]}
	if ls tests/integration/test_*.sh >/dev/null 2>&1; then
		suite_line integration /tmp/integration.log $((SECONDS - start)) "$rc"
	else
		counts="$counts; integration: none left to run"
	fi
	[ -n "$skipped" ] && counts="$counts; skipped: $skipped"
	;;
esac

# --- the kernel's complaints ------------------------------------------------------------------
section dmesg
echo "##### kernel messages at warning level or worse"
dmesg -r 2>/dev/null | awk -F'[<>]' '$2 % 8 <= 4' | sed -E 's/^<[0-9]+>//' | tail -n 100
if dmesg | tail -n +$((boot_lines + 1)) | grep -qE 'BUG:|WARNING:|Oops|general protection|Call Trace'; then
	echo "VMTEST-KERNEL: warnings or oopses in dmesg"
	kernel_bad=1
else
	kernel_bad=0
fi

if [ "$total_fail" -eq 0 ] && [ "$kernel_bad" -eq 0 ]; then
	echo "PASS $counts" >"$status_file"
else
	[ "$kernel_bad" -eq 1 ] && counts="$counts; kernel warnings in dmesg"
	echo "FAIL $counts" >"$status_file"
fi
echo "$total_pass passed, $total_fail failed"
