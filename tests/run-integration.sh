#!/usr/bin/env bash
# Run the integration tests: every tests/integration/test_*.sh, each in its own process, and sum
# their "N passed, M failed" lines. A test that ends without such a line, or exits non-zero with
# no failure counted, counts as one failure.
#
#   tests/run-integration.sh [FILTER]     FILTER: a substring of the test file names
#
# Environment: MESHWARP (default build/meshwarp), MW_TOOLS (default build/tests/tools),
# MW_TEST_TIMEOUT seconds per test (default 300; then SIGTERM, which the test's trap cleans up,
# and SIGKILL 30 s later).
set -u

here=$(cd "$(dirname "$0")" && pwd)
filter=${1:-}

if [ "$(id -u)" -ne 0 ]; then
	echo "run-integration: must run as root (namespaces, cgroups, bpffs)" >&2
	exit 1
fi
if [ $# -gt 1 ] || [ "$filter" == -h ] || [ "$filter" == --help ]; then
	echo "usage: $0 [FILTER]" >&2
	exit 2
fi

passed=0
failed=0
ran=0
out=$(mktemp /tmp/meshwarp-run-integration.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT

for t in "$here"/integration/test_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	[ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
	ran=$((ran + 1))
	echo "=== $name"
	# --foreground: Ctrl-C still reaches the test; on timeout the test's TERM trap cleans up.
	# 600 s: a hang still ends well inside CI's limit, and the longest test (test_routes,
	# ~2 min on a quiet machine) still finishes on a loaded one (it took 5 at load 14).
	timeout --foreground -k 30 "${MW_TEST_TIMEOUT:-600}" bash "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$summary" ]; then
		echo "$name: FAIL (no summary line, exit status $rc)"
		failed=$((failed + 1))
		continue
	fi
	p=${summary%% passed*}
	f=${summary#*passed, }
	f=${f%% failed*}
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: FAIL (exit status $rc with no failed expectation)"
		failed=$((failed + 1))
	elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
		echo "$name: FAIL (exit status 0 despite $f failed expectation(s))"
	fi
	echo "=== $name: exit $rc"
done

if [ "$ran" -eq 0 ]; then
	echo "run-integration: no test matches '${filter}'" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
