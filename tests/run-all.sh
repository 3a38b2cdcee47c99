#!/usr/bin/env bash
# `make check`: every suite, in order of what it needs, then one closing line
# "check: N passed, M failed" that sums them. Unit tests need nothing; the BPF
# and integration suites need root (they load programs and make namespaces).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
log=$(mktemp /tmp/meshwarp-check.XXXXXX) || exit 1
trap 'rm -f "$log"' EXIT

total_pass=0
total_fail=0

# run_suite NAME CMD...: runs a suite, adds its last "N passed, M failed" line.
run_suite() {
	local name=$1 line p f rc
	shift
	echo "##### $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: FAIL (no summary, exit $rc)"
		total_fail=$((total_fail + 1))
		return
	fi
	p=$(sed -E 's/.*(^|: )([0-9]+) passed.*/\2/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: FAIL (exit $rc)"
		total_fail=$((total_fail + 1))
	fi
}

# The test programs of a build directory (not the .d files beside them).
tests_in() { find "$1" -maxdepth 1 -type f -name 'test_*' ! -name '*.d' -perm -u+x 2>/dev/null | sort; }

mapfile -t unit_tests < <(tests_in "$build/tests/unit")
run_suite unit "$here/run-unit.sh" "${unit_tests[@]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "check: the BPF and integration suites need root (sudo make check)"
	total_fail=$((total_fail + 1))
else
	mapfile -t bpf_tests < <(tests_in "$build/tests/bpf")
	[ "${#bpf_tests[@]}" -gt 0 ] && run_suite bpf "$here/run-unit.sh" "${bpf_tests[@]}"
	run_suite integration "$here/run-integration.sh"
	# The benchmark harness's smoke run: every path produced a number (no timing verdict).
	if [ -x "$here/../bench/run.sh" ]; then
		run_suite bench "$here/../bench/run.sh" --quick
	fi
fi

echo "check: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
