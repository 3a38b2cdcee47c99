#!/usr/bin/env bash
# Routing tables (docs/routes.md) through `meshwarp routes`, checked by what the application
# sees: the upstream that answered (its first line), the errno connect() gave, getpeername(),
# and the workload's decision counters (`status -j`), every row moving them by exactly N.
#   (a) weighted forward: service "reviews" on the virtual 10.96.0.10:9080 (configured nowhere),
#       v1 weight 90 and v2 weight 10 on two real upstreams (and v3, weight 0, never);
#       10 000 connections land 90/10 within 2 percentage points (the upstreams' names
#       counted), getpeername() shows 10.96.0.10:9080, the dual-stack (v4-mapped) path too;
#       an IPv6 service (connect6 forwards all 16 bytes) on [fd00:96::10]:9080
#   (b) reject: each errno a rule can name (ECONNREFUSED, EHOSTUNREACH, ...) is exactly what
#       connect() gives, and `reject` moves by exactly the number of attempts
#   (c) bypass, sidecar (the egress port and a port of the rule's own), a port range at its
#       edges, a rule before an APPMESH_EGRESS_IGNORED_IP address, a service's other ports
#   (e) bad input (syntax: line and column; semantic: the path; not compilable: the prefix;
#       a state directory that cannot be written): exit non-zero, the table in force unchanged
#       (generation, state files, behaviour)
#   (f) diff prints what would change, exactly, and changes nothing
#   (g) rollback returns to the previous table (behaviour checked)
#   (h) re-running init keeps the workload's rules (and follows a changed name or variable)
#   (i) the App Mesh variables outlive the tables: an APPMESH_EGRESS_IGNORED_IP address that
#       one table's rule overrides (every port) is bypassed again once a table without that
#       rule is applied
#   (d) atomicity: clients make thousands of connections while tables A and B, which decide
#       a set of destinations in opposite ways, are applied A, B, A, ... hundreds of times;
#       every connection's outcome is one A or B gives. The services are crossed (A: s1 -> s1,
#       s2 -> s2; B: s1 -> s2, s2 -> s1, with other endpoints), so a connection decided by the
#       rule list of one table and the service entry of the other lands on an upstream neither
#       table sends it to; a missing list shows as the workload's sidecar, a missing service as
#       EHOSTUNREACH
#
#   pod 10.250.31.1/24 fd00:250:31::1 ==veth== up 10.250.31.2/24 fd00:250:31::2
#                                                  (+ 10.250.31.3, an ignored address)
#   up: mwt-server v1 :9081, v2 :9082, a1..b2 :9091..9094, direct :9099 (IPv4), r6 :9085 (IPv6)
#   pod: mwt-sidecar (uid 1337) on 15001 (the egress port) and on 15006 (a rule's port)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin routes

for t in mwt-sidecar mwt-server mwt-connect mwt-tally; do
	[ -x "$MW_TOOLS/$t" ] || mw_die "$MW_TOOLS/$t missing: build the test tools (make tests)"
done
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
command -v jq >/dev/null || mw_die "jq missing: scripts/install-deps.sh installs it"
CONNECT=$MW_TOOLS/mwt-connect
TALLY=$MW_TOOLS/mwt-tally

POD_IP=10.250.31.1
UP_IP=10.250.31.2
IGN_IP=10.250.31.3
POD_IP6=fd00:250:31::1
UP_IP6=fd00:250:31::2
VIP6=fd00:96::10
VIP=10.96.0.10
N=20            # connections per row
NW=10000        # connections of the weighted forward
N_APPLY=300     # applies of (d)
N_CLIENTS=2     # clients of (d)

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_IP=$IGN_IP
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_ENABLE_IPV6=1
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
unset MESHWARP_CP_URL MESHWARP_CP_CA MESHWARP_CP_CERT MESHWARP_CP_KEY MESHWARP_CP_SAN
unset MESHWARP_ROUTES_FILE
export MESHWARP_WORKLOAD=web
export MESHWARP_STATE_DIR=$MW_TMP/state
# Standalone: no agent of anybody else's answers our init.
export MESHWARP_AGENT_SOCKET=$MW_TMP/no-agent/agent.sock

mw_netns pod
mw_netns up
mw_veth pod "$POD_IP" up "$UP_IP" "$POD_IP6" "$UP_IP6"
mw_in_ns up ip addr add "$IGN_IP/32" dev "$MW_VETH2" || mw_die "address $IGN_IP in up failed"
# Thousands of connections one after the other: room for every one.
mw_in_ns pod sysctl -qw net.ipv4.ip_local_port_range="1024 65000" || mw_die "port range in pod"

# --- peers ---------------------------------------------------------------------------------------
for s in v1:9081 v2:9082 a1:9091 a2:9092 b1:9093 b2:9094 direct:9099; do
	mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -4 -p "${s#*:}" -n "${s%:*}"
done
mw_spawn up --no-cg "$MW_TOOLS/mwt-server" -6 -p 9085 -n r6
for p in 9081 9082 9091 9092 9093 9094 9099; do
	mw_wait_port up "$p" || mw_die "upstream on port $p did not listen"
done
mw_wait_port up 9085 v6 || mw_die "upstream on port 9085 (v6) did not listen"
SC1_LOG=$MW_RUN/sidecar-15001.log
SC2_LOG=$MW_RUN/sidecar-15006.log
: >"$SC1_LOG"
: >"$SC2_LOG"
chmod 0666 "$SC1_LOG" "$SC2_LOG"
mw_spawn pod --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15001 -l "$SC1_LOG"
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar 15001 did not start"
mw_spawn pod --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15006 -l "$SC2_LOG"
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar 15006 did not start"

# --- enrol ---------------------------------------------------------------------------------------
out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init exits 0" 0 $? || mw_die "init failed: $out"
POD_NS=$(mw_in_ns pod "$MESHWARP" status -j | jq -r .current_netns)
[[ $POD_NS =~ ^[0-9]+$ ]] || mw_die "status -j in pod gave no current_netns: $POD_NS"

# --- helpers -------------------------------------------------------------------------------------
KEYS=(gen redirect local uid gid port addr rule reject forward sc1 sc2)

# snap: the pod's generation, egress decision counters and the two sidecars' log lines, in the
# order of KEYS.
snap() {
	local j v
	j=$(timeout 20 "$MESHWARP" status -j 2>/dev/null) || { echo status-failed; return; }
	v=$(jq -r --argjson ns "$POD_NS" '
		(first(.workloads[] | select(.netns == $ns)) // null) as $w
		| if $w == null then "none" else
		  [$w.generation, ($w.decisions.egress | .redirect, .local, .uid, .gid, .port, .addr,
		   .rule, .reject, .forward)] | map(tostring) | join(" ") end' <<<"$j") || v=jq-failed
	echo "$v $(wc -l <"$SC1_LOG") $(wc -l <"$SC2_LOG")"
}

# delta BEFORE AFTER: "gen=0 redirect=5 ..." over KEYS.
delta() {
	local -a b a
	local i s=""
	read -r -a b <<<"$1"
	read -r -a a <<<"$2"
	if [ "${#b[@]}" -ne "${#KEYS[@]}" ] || [ "${#a[@]}" -ne "${#KEYS[@]}" ]; then
		echo "no counters to compare: before [$1], after [$2]"
		return
	fi
	for i in "${!KEYS[@]}"; do
		s+="${KEYS[i]}=$((a[i] - b[i])) "
	done
	echo "${s% }"
}

# want "reject=5 sc1=5": the full KEYS vector, the keys not named at 0.
want() {
	local k kv s="" v
	for k in "${KEYS[@]}"; do
		v=0
		for kv in $1; do
			[ "${kv%%=*}" == "$k" ] && v=${kv#*=}
		done
		s+="$k=$v "
	done
	echo "${s% }"
}

# wait_sc BEFORE SPEC: the sidecars log just after the client got its line: wait (~5 s at most)
# for the lines SPEC expects.
wait_sc() {
	local -a b
	local w1=0 w2=0 kv i
	read -r -a b <<<"$1"
	[ "${#b[@]}" -eq "${#KEYS[@]}" ] || return 0
	for kv in $2; do
		[ "${kv%%=*}" == sc1 ] && w1=${kv#*=}
		[ "${kv%%=*}" == sc2 ] && w2=${kv#*=}
	done
	for i in $(seq 50); do
		[ "$(wc -l <"$SC1_LOG")" -ge $((b[10] + w1)) ] &&
			[ "$(wc -l <"$SC2_LOG")" -ge $((b[11] + w2)) ] && return 0
		sleep 0.1
	done
}

expect_counters() {
	wait_sc "$2" "$3"
	mw_expect_eq "$1: counters" "$(want "$3")" "$(delta "$2" "$(snap)")"
}

# tally [mwt-tally args...]: from the pod, in the cgroup.
tally() {
	mw_in_pod pod "$TALLY" "$@"
}

# row NAME EXPECTED SPEC ADDR PORT: N connections to ADDR:PORT, every one EXPECTED, the counters
# moved by SPEC.
row() {
	local before out
	before=$(snap)
	out=$(tally -n "$N" "$4" "$5")
	mw_expect_eq "$1: $N connections, each: $2" "$(printf '%s\t%s:%s\t%s\ntotal\t%s' "$N" "$4" "$5" "$2" "$N")" "$out"
	expect_counters "$1" "$before" "$3"
}

sc() { echo "SIDECAR orig=$1:$2 orig6=[::ffff:$1]:$2"; }
up() { echo "UPSTREAM $1 local=$2:$3"; }
gen() { snap | awk '{ print $1 }'; }   # "status-failed" when status -j failed
version() { timeout 20 "$MESHWARP" status -j | jq -r '.routes.version // "none"'; }
current() { md5sum <"$MESHWARP_STATE_DIR/routes/current.json" 2>/dev/null | cut -d' ' -f1; }

# probe: one connection to each of a few destinations whose outcome T1 and T2 decide
# differently; "outcome|outcome|...".
PROBES=("10.98.1.5 80" "10.98.6.5 80" "10.98.8.5 80" "$UP_IP 7000" "$VIP 9081")
probe() {
	local p
	for p in "${PROBES[@]}"; do
		# shellcheck disable=SC2086
		mw_in_pod pod "$CONNECT" $p
	done | paste -sd '|'
}

# --- the table: T1 -------------------------------------------------------------------------------
T1=$MW_TMP/t1.json
cat >"$T1" <<EOF
{ "version": "routes-test.1",
  "services": [
    { "name": "reviews", "addresses": ["$VIP"], "ports": [9080],
      "versions": [ { "name": "v1", "weight": 90, "endpoints": ["$UP_IP:9081"] },
                    { "name": "v2", "weight": 10, "endpoints": ["$UP_IP:9082"] },
                    { "name": "v3", "weight": 0, "endpoints": ["$UP_IP:9099"] } ] },
    { "name": "ratings6", "addresses": ["$VIP6"], "ports": [9080],
      "versions": [ { "name": "r6", "weight": 1, "endpoints": ["[$UP_IP6]:9085"] } ] } ],
  "workloads": [
    { "workload": "web", "rules": [
      { "match": { "service": "reviews" }, "action": { "forward": "reviews" } },
      { "match": { "service": "ratings6" }, "action": { "forward": "ratings6" } },
      { "match": { "destination": "10.98.1.0/24" }, "action": { "reject": "ECONNREFUSED" } },
      { "match": { "destination": "10.98.2.0/24" }, "action": { "reject": "EHOSTUNREACH" } },
      { "match": { "destination": "10.98.3.0/24" }, "action": { "reject": "ENETUNREACH" } },
      { "match": { "destination": "10.98.4.0/24" }, "action": { "reject": "EACCES" } },
      { "match": { "destination": "10.98.5.0/24" }, "action": { "reject": "EPERM" } },
      { "match": { "destination": "10.98.6.0/24" }, "action": { "reject": "ETIMEDOUT" } },
      { "match": { "destination": "$UP_IP", "port": 9081 }, "action": "bypass" },
      { "match": { "destination": "$UP_IP", "port": 9082 }, "action": { "sidecar": 15006 } },
      { "match": { "destination": "10.250.31.0/24", "ports": "7000-7099" },
        "action": { "reject": "ECONNREFUSED" } },
      { "match": { "destination": "$IGN_IP", "port": 9081 }, "action": "sidecar" } ] },
    { "workload": "*", "rules": [
      { "match": { "destination": "10.98.7.0/24" }, "action": { "reject": "EHOSTUNREACH" } } ] } ] }
EOF
T1_PROBE="ERR ECONNREFUSED|ERR ETIMEDOUT|$(sc 10.98.8.5 80)|ERR ECONNREFUSED|$(sc "$VIP" 9081)"

# T2: 10.98.1.0/24 rejects with another errno, the ETIMEDOUT block goes, 10.98.8.0/24 is
# bypassed, and the weights become 50/50.
T2=$MW_TMP/t2.json
sed -e 's/"version": "routes-test.1"/"version": "routes-test.2"/' \
	-e 's/"weight": 90/"weight": 50/; s/"weight": 10,/"weight": 50,/' \
	-e '/10\.98\.1\.0\/24/s/ECONNREFUSED/EHOSTUNREACH/' \
	-e 's|"destination": "10.98.6.0/24" }, "action": { "reject": "ETIMEDOUT" }|"destination": "10.98.8.0/24" }, "action": "bypass"|' \
	"$T1" >"$T2"
T2_PROBE="ERR EHOSTUNREACH|$(sc 10.98.6.5 80)|ERR ENETUNREACH|ERR ECONNREFUSED|$(sc "$VIP" 9081)"

mw_expect_eq "before any table: routes show" \
	"no routing table applied: the App Mesh variables decide" "$("$MESHWARP" routes show 2>&1)"
g0=$(gen)
out=$("$MESHWARP" routes apply "$T1" 2>&1)
mw_expect_eq "apply T1: exit 0" 0 $? || mw_die "apply T1 failed: $out"
mw_expect_match "apply T1: says so" "routing table routes-test\.1 applied to 1 workload\(s\)" "$out"
mw_expect_eq "apply T1: one new generation, version in status" "$((g0 + 1)) routes-test.1" \
	"$(gen) $(version)"
mw_expect_eq "apply T1: routes show (the document as applied)" "$(cat "$T1")" \
	"$("$MESHWARP" routes show | tail -n +2)"
mw_expect_eq "apply T1: the behaviour of the probes" "$T1_PROBE" "$(probe)"

# --- (a) weighted forward --------------------------------------------------------------------------
before=$(snap)
out=$(tally -g -n "$NW" "$VIP" 9080)
echo "# (a) $NW connections to $VIP:9080:"
sed 's/^/#   /' <<<"$out"
V1="$(up v1 "$UP_IP" 9081) peer=$VIP:9080"
V2="$(up v2 "$UP_IP" 9082) peer=$VIP:9080"
n1=$(awk -F'\t' -v o="$V1" '$3 == o { print $1 }' <<<"$out")
n2=$(awk -F'\t' -v o="$V2" '$3 == o { print $1 }' <<<"$out")
others=$(awk -F'\t' -v a="$V1" -v b="$V2" '$1 != "total" && $3 != a && $3 != b' <<<"$out")
mw_expect_eq "(a) every connection reached v1 or v2, and getpeername() showed $VIP:9080" "" "$others"
mw_expect_eq "(a) $NW connections counted" "$NW" "$((${n1:-0} + ${n2:-0}))"
# 90/10 within 2 percentage points: v1 in [8800, 9200] of 10 000 (about 6.7 standard deviations).
lo=$((NW * 88 / 100))
hi=$((NW * 92 / 100))
if [ "${n1:-0}" -ge "$lo" ] && [ "${n1:-0}" -le "$hi" ]; then
	mw_pass "(a) 90/10 within 2 points: v1 ${n1:-0}, v2 ${n2:-0} of $NW"
else
	mw_fail "(a) 90/10 within 2 points" "v1 ${n1:-0}, v2 ${n2:-0} of $NW (v1 must be in $lo..$hi)"
fi
expect_counters "(a) weighted forward" "$before" "forward=$NW"
A_V1=${n1:-0}
A_V2=${n2:-0}

# The dual-stack path (connect6, v4-mapped): the same service, the address dialled shown.
before=$(snap)
out=$(tally -m -g -n 200 "$VIP" 9080)
others=$(awk -F'\t' -v a="$(up v1 "$UP_IP" 9081) peer=[::ffff:$VIP]:9080" \
	-v b="$(up v2 "$UP_IP" 9082) peer=[::ffff:$VIP]:9080" '$1 != "total" && $3 != a && $3 != b' <<<"$out")
mw_expect_eq "(a) dual-stack client: every connection reached v1 or v2, getpeername() [::ffff:$VIP]:9080" \
	"" "$others"
mw_expect_eq "(a) dual-stack client: 200 connections" "total	200" "$(tail -n 1 <<<"$out")"
expect_counters "(a) dual-stack client" "$before" "forward=200"

# IPv6: connect6 writes the endpoint's 16 bytes; getpeername6 gives the service address back.
before=$(snap)
out=$(tally -g -n 200 "$VIP6" 9080)
mw_expect_eq "(a) IPv6 service: 200 connections, each to r6, getpeername() [$VIP6]:9080" \
	"$(printf '200\t[%s]:9080\tUPSTREAM r6 local=[%s]:9085 peer=[%s]:9080\ntotal\t200' "$VIP6" "$UP_IP6" "$VIP6")" \
	"$out"
expect_counters "(a) IPv6 service" "$before" "forward=200"

# A port of the address that is not the service's: no rule, to the sidecar.
row "(a) $VIP:9081 (not a port of the service)" "$(sc "$VIP" 9081)" "redirect=$N sc1=$N" "$VIP" 9081

# --- (b) reject ------------------------------------------------------------------------------------
row "(b) reject ECONNREFUSED" "ERR ECONNREFUSED" "reject=$N" 10.98.1.5 80
row "(b) reject EHOSTUNREACH" "ERR EHOSTUNREACH" "reject=$N" 10.98.2.5 443
row "(b) reject ENETUNREACH" "ERR ENETUNREACH" "reject=$N" 10.98.3.5 80
row "(b) reject EACCES" "ERR EACCES" "reject=$N" 10.98.4.5 80
row "(b) reject EPERM" "ERR EPERM" "reject=$N" 10.98.5.5 80
row "(b) reject ETIMEDOUT" "ERR ETIMEDOUT" "reject=$N" 10.98.6.5 80
row "(b) reject EHOSTUNREACH from the \"*\" entry" "ERR EHOSTUNREACH" "reject=$N" 10.98.7.5 80
before=$(snap)
out="$(mw_in_pod pod "$CONNECT" -m 10.98.1.5 80) $(mw_in_pod pod "$CONNECT" -m 10.98.2.5 80)"
mw_expect_eq "(b) dual-stack client: the same errnos" "ERR ECONNREFUSED ERR EHOSTUNREACH" "$out"
expect_counters "(b) dual-stack client" "$before" "reject=2"
row "(b) just outside the rejected blocks: to the sidecar" "$(sc 10.98.8.5 80)" \
	"redirect=$N sc1=$N" 10.98.8.5 80

# --- (c) bypass, sidecar, port range ---------------------------------------------------------------
row "(c) bypass $UP_IP:9081" "$(up v1 "$UP_IP" 9081)" "rule=$N" "$UP_IP" 9081
row "(c) sidecar on the rule's port 15006" "$(sc "$UP_IP" 9082)" "redirect=$N sc2=$N" "$UP_IP" 9082
row "(c) no rule: to the sidecar on the egress port" "$(sc "$UP_IP" 9099)" "redirect=$N sc1=$N" \
	"$UP_IP" 9099
row "(c) port range 7000-7099: 6999 is outside" "$(sc "$UP_IP" 6999)" "redirect=$N sc1=$N" \
	"$UP_IP" 6999
row "(c) port range 7000-7099: 7000" "ERR ECONNREFUSED" "reject=$N" "$UP_IP" 7000
row "(c) port range 7000-7099: 7099" "ERR ECONNREFUSED" "reject=$N" "$UP_IP" 7099
row "(c) port range 7000-7099: 7100 is outside" "$(sc "$UP_IP" 7100)" "redirect=$N sc1=$N" \
	"$UP_IP" 7100
row "(c) port range on the /24: 10.250.31.77:7050" "ERR ECONNREFUSED" "reject=$N" 10.250.31.77 7050
row "(c) a sidecar rule before an ignored address" "$(sc "$IGN_IP" 9081)" "redirect=$N sc1=$N" \
	"$IGN_IP" 9081
row "(c) the ignored address on another port: bypass (ignored address)" "$(up v2 "$IGN_IP" 9082)" \
	"addr=$N" "$IGN_IP" 9082

# --- (e) bad input -------------------------------------------------------------------------------
# refused NAME FILE REGEX: apply (and diff) of FILE exit non-zero with REGEX, and nothing changed.
refused() {
	local g c o rc
	g=$(gen)
	c=$(current)
	o=$("$MESHWARP" routes apply "$2" 2>&1)
	rc=$?
	printf '# %s: %s\n' "$1" "$o"
	mw_expect_eq "$1: apply exits 1" 1 "$rc"
	mw_expect_match "$1: apply says" "$3" "$o"
	o=$("$MESHWARP" routes diff "$2" 2>&1)
	rc=$?
	mw_expect_eq "$1: diff exits 1" 1 "$rc"
	mw_expect_match "$1: diff says" "$3" "$o"
	mw_expect_eq "$1: generation, version and current.json unchanged" \
		"$g routes-test.1 $c" "$(gen) $(version) $(current)"
	mw_expect_eq "$1: behaviour unchanged" "$T1_PROBE" "$(probe)"
}

printf '{\n  "version": "bad-syntax",\n  "workloads": [\n    { "workload": "web", "rules": [ { "match" { }, "action": "bypass" } ] }\n  ]\n}\n' \
	>"$MW_TMP/bad-syntax.json"
refused "(e) syntax error" "$MW_TMP/bad-syntax.json" \
	"bad-syntax\.json: line 4, column 47: object property name separator ':' expected"

cat >"$MW_TMP/bad-key.json" <<'EOF'
{ "version": "bad-key", "workloads": [ { "workload": "web", "rules": [
    { "match": { "destination": "10.98.1.0/24" }, "action": "bypass" },
    { "match": { "prot": 80 }, "action": "bypass" } ] } ] }
EOF
refused "(e) unknown key" "$MW_TMP/bad-key.json" \
	'bad-key\.json: workloads\[0\]\.rules\[1\]\.match\.prot: unknown key'

cat >"$MW_TMP/bad-errno.json" <<'EOF'
{ "version": "bad-errno", "workloads": [ { "workload": "web", "rules": [
    { "match": { "destination": "10.98.1.0/24" }, "action": { "reject": "EIO" } } ] } ] }
EOF
refused "(e) unknown errno" "$MW_TMP/bad-errno.json" \
	'bad-errno\.json: workloads\[0\]\.rules\[0\]\.action\.reject: "EIO" is not one of ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EACCES, EPERM, ETIMEDOUT'

cat >"$MW_TMP/bad-weight.json" <<EOF
{ "version": "bad-weight",
  "services": [ { "name": "reviews", "addresses": ["$VIP"],
                  "versions": [ { "name": "v1", "weight": 10 } ] } ],
  "workloads": [ { "workload": "web", "rules": [
    { "match": { "service": "reviews" }, "action": { "forward": "reviews" } } ] } ] }
EOF
refused "(e) weight without endpoints" "$MW_TMP/bad-weight.json" \
	'bad-weight\.json: services\[0\]\.versions\[0\]\.endpoints: none for a weight of 10'

# Valid, but not compilable for the enrolled workload: 9 rules on one prefix.
{
	printf '{ "version": "too-many", "workloads": [ { "workload": "web", "rules": [\n'
	for p in 1 2 3 4 5 6 7 8; do
		printf '  { "match": { "destination": "10.99.0.0/16", "port": %d }, "action": "bypass" },\n' "$p"
	done
	printf '  { "match": { "destination": "10.99.0.0/16", "port": 9 }, "action": "bypass" } ] } ] }\n'
} >"$MW_TMP/too-many.json"
refused "(e) 9 rules on one prefix" "$MW_TMP/too-many.json" \
	'destination 10\.99\.0\.0/16: 9 rules apply \(workloads\[0\]\.rules\[0\], .*workloads\[0\]\.rules\[8\]\), the kernel takes at most 8'

g=$(gen)
out=$("$MESHWARP" routes apply "$MW_TMP/missing.json" 2>&1)
mw_expect_eq "(e) missing file: exit 1, generation unchanged" "1 $g" "$? $(gen)"
mw_expect_match "(e) missing file: says so" "missing\.json: No such file or directory" "$out"

# The state directory cannot be written (a file where its parent should be): the table in force
# and its record must not part ways. Nothing may change, or the apply must succeed.
: >"$MW_TMP/not-a-dir"
g=$(gen)
out=$(MESHWARP_STATE_DIR=$MW_TMP/not-a-dir/state "$MESHWARP" routes apply "$T2" 2>&1)
rc=$?
printf '# (e) unwritable state directory: exit %s: %s\n' "$rc" "$out"
mw_expect_eq "(e) unwritable state directory: apply exits 1" 1 "$rc"
mw_expect_match "(e) unwritable state directory: says what failed" "not-a-dir/state.*Not a directory" "$out"
mw_expect_eq "(e) unwritable state directory: generation and version unchanged" \
	"$g routes-test.1" "$(gen) $(version)"
mw_expect_eq "(e) unwritable state directory: behaviour unchanged (T1, not T2)" "$T1_PROBE" "$(probe)"
# Whatever happened, T1 again for what follows.
"$MESHWARP" routes apply "$T1" >/dev/null 2>&1 || mw_die "re-applying T1 failed"
[ "$(probe)" == "$T1_PROBE" ] || mw_die "T1 re-applied, but the probes say $(probe)"

# --- (f) diff --------------------------------------------------------------------------------------

g=$(gen)
c=$(current)
out=$("$MESHWARP" routes diff "$T2" 2>&1)
mw_expect_eq "(f) diff T2: exit 0" 0 $?
exp="workload web (netns $POD_NS):
~ 10.98.1.0/24: reject ECONNREFUSED -> reject EHOSTUNREACH
- 10.98.6.0/24 reject ETIMEDOUT
+ 10.98.8.0/24 bypass
~ service 1: $UP_IP:9081 weight 90, $UP_IP:9082 weight 10 -> $UP_IP:9081 weight 50, $UP_IP:9082 weight 50
4 change(s) across 1 workload(s)"
mw_expect_eq "(f) diff T2: exactly what would change" "$exp" "$out"
mw_expect_eq "(f) diff T2: generation, version and current.json unchanged" \
	"$g routes-test.1 $c" "$(gen) $(version) $(current)"
mw_expect_eq "(f) diff T2: behaviour unchanged" "$T1_PROBE" "$(probe)"
out=$("$MESHWARP" routes diff "$T1" 2>&1)
mw_expect_eq "(f) diff of the table in force: no change" \
	"0 workload web (netns $POD_NS):|  (no change)|0 change(s) across 1 workload(s)" \
	"$? $(paste -sd '|' <<<"$out")"

# --- (g) apply T2, then rollback -------------------------------------------------------------------
out=$("$MESHWARP" routes apply "$T2" 2>&1)
mw_expect_eq "(g) apply T2: exit 0, a new generation" "0 $((g + 1)) routes-test.2" "$? $(gen) $(version)"
mw_expect_eq "(g) apply T2: the behaviour changed as T2 says" "$T2_PROBE" "$(probe)"
row "(g) T2: 10.98.8.0/24 is bypassed (no route there: ENETUNREACH from the kernel)" \
	"ERR ENETUNREACH" "rule=$N" 10.98.8.5 80
mw_expect_eq "(g) T2 in force: diff T2 says no change" "0 change(s) across 1 workload(s)" \
	"$("$MESHWARP" routes diff "$T2" 2>&1 | tail -n 1)"
mw_expect_eq "(g) T1 kept for rollback (previous.json)" "$(cat "$T1")" \
	"$(cat "$MESHWARP_STATE_DIR/routes/previous.json" 2>&1)"
out=$("$MESHWARP" routes rollback 2>&1)
mw_expect_eq "(g) rollback: exit 0, a new generation, T1's version" \
	"0 $((g + 2)) routes-test.1" "$? $(gen) $(version)"
mw_expect_eq "(g) rollback: T1's behaviour again" "$T1_PROBE" "$(probe)"
mw_expect_eq "(g) rollback: the table in force is T1's (diff T1: no change)" \
	"0 change(s) across 1 workload(s)" "$("$MESHWARP" routes diff "$T1" 2>&1 | tail -n 1)"
mw_expect_eq "(g) rollback: routes show T1" "$(cat "$T1")" "$("$MESHWARP" routes show | tail -n +2)"
row "(g) rollback: ETIMEDOUT is back" "ERR ETIMEDOUT" "reject=$N" 10.98.6.5 80
g=$(gen)
out=$(MESHWARP_STATE_DIR=$MW_TMP/empty-state "$MESHWARP" routes rollback 2>&1)
mw_expect_eq "(g) rollback with nothing to roll back to: exit 1, nothing changed" \
	"1 $g $T1_PROBE" "$? $(gen) $(probe)"
mw_expect_match "(g) rollback with nothing to roll back to: says so" "no earlier routing table" "$out"

# --- (h) re-running init keeps the workload's rules ------------------------------------------------
out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(h) init again: exit 0, a new generation" "0 $((g + 1))" "$? $(gen)"
mw_expect_eq "(h) init again: T1's behaviour" "$T1_PROBE" "$(probe)"
mw_expect_eq "(h) init again: the table equals T1 compiled (diff: no change)" \
	"0 change(s) across 1 workload(s)" "$("$MESHWARP" routes diff "$T1" 2>&1 | tail -n 1)"
before=$(snap)
out=$(tally -g -n 400 "$VIP" 9080)
mw_expect_eq "(h) init again: the forward still works (400 connections, v1 or v2)" "" \
	"$(awk -F'\t' -v a="$V1" -v b="$V2" '$1 != "total" && $3 != a && $3 != b' <<<"$out")"
expect_counters "(h) init again: forward" "$before" "forward=400"

# Another name: only the "*" entry applies to it.
out=$(MESHWARP_WORKLOAD=api ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(h) init as workload api: exit 0" 0 $?
mw_expect_eq "(h) as api: web's rules are gone, the \"*\" rule stays" \
	"$(sc 10.98.1.5 80)|$(sc "$VIP" 9080)|ERR EHOSTUNREACH" \
	"$(mw_in_pod pod "$CONNECT" 10.98.1.5 80)|$(mw_in_pod pod "$CONNECT" "$VIP" 9080)|$(mw_in_pod pod "$CONNECT" 10.98.7.5 80)"
# A changed App Mesh variable: an ignored port is decided before every rule.
out=$(APPMESH_EGRESS_IGNORED_PORTS=9082 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(h) init as web with APPMESH_EGRESS_IGNORED_PORTS=9082: exit 0" 0 $?
row "(h) ignored port 9082 before the sidecar rule" "$(up v2 "$UP_IP" 9082)" "port=$N" "$UP_IP" 9082
mw_expect_eq "(h) ... and web's rules are back" "$T1_PROBE" "$(probe)"
out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(h) init as before: T1 exactly (diff: no change)" \
	"0 change(s) across 1 workload(s)" "$("$MESHWARP" routes diff "$T1" 2>&1 | tail -n 1)"

# --- (i) the App Mesh variables outlive the tables -------------------------------------------------
# T3 = T1 and, last, every port of 10.250.31.0/24 rejected: that overrides the ignored address
# 10.250.31.3 (a rule comes before an ignored address). T1 again: 10.250.31.3 is bypassed again,
# as APPMESH_EGRESS_IGNORED_IP says.
T3=$MW_TMP/t3.json
jq '.version = "routes-test.3" | .workloads[0].rules += [{ "match": { "destination": "10.250.31.0/24" },
	"action": { "reject": "EACCES" } }]' "$T1" >"$T3" || mw_die "making T3 failed"
out=$("$MESHWARP" routes apply "$T3" 2>&1)
mw_expect_eq "(i) apply T3: exit 0" 0 $?
row "(i) T3: the ignored address is rejected (the rule comes first)" "ERR EACCES" "reject=$N" \
	"$IGN_IP" 9082
out=$("$MESHWARP" routes apply "$T1" 2>&1)
mw_expect_eq "(i) apply T1 again: exit 0" 0 $?
row "(i) T1 again: the ignored address is bypassed again" "$(up v2 "$IGN_IP" 9082)" "addr=$N" \
	"$IGN_IP" 9082
mw_expect_eq "(i) T1 again: status lists the ignored address" '["10.250.31.3"]' \
	"$("$MESHWARP" status -j | jq -c --argjson ns "$POD_NS" 'first(.workloads[] | select(.netns == $ns)) | .ignored_addresses')"

# --- (d) atomicity under concurrent connects -------------------------------------------------------
echo "# (a) to (h) took ${SECONDS}s"
TA=$MW_TMP/table-a.json
TB=$MW_TMP/table-b.json
# table NAME S1-ENDPOINT S2-ENDPOINT FORWARD-OF-S1 FORWARD-OF-S2 ERRNO-7001 ERRNO-REST ACTION-9099
table() {
	cat <<EOF
{ "version": "atomic-$1",
  "services": [
    { "name": "s1", "addresses": ["10.97.0.1"], "ports": [9080],
      "versions": [ { "name": "only", "weight": 1, "endpoints": ["$UP_IP:$2"] } ] },
    { "name": "s2", "addresses": ["10.97.0.2"], "ports": [9080],
      "versions": [ { "name": "only", "weight": 1, "endpoints": ["$UP_IP:$3"] } ] } ],
  "workloads": [ { "workload": "web", "rules": [
    { "match": { "service": "s1" }, "action": { "forward": "$4" } },
    { "match": { "service": "s2" }, "action": { "forward": "$5" } },
    { "match": { "destination": "10.97.1.0/24", "port": 7001 }, "action": { "reject": "$6" } },
    { "match": { "destination": "10.97.1.0/24" }, "action": { "reject": "$7" } },
    { "match": { "destination": "$UP_IP", "port": 9099 }, "action": $8 } ] } ] }
EOF
}
table A 9091 9092 s1 s2 ECONNREFUSED EHOSTUNREACH '"bypass"' >"$TA"
table B 9093 9094 s2 s1 EHOSTUNREACH ECONNREFUSED '{ "sidecar": 15006 }' >"$TB"
# What each table gives, per target: "target<TAB>outcome".
OUT_A="10.97.0.1:9080	$(up a1 "$UP_IP" 9091)
10.97.0.2:9080	$(up a2 "$UP_IP" 9092)
10.97.1.1:7001	ERR ECONNREFUSED
10.97.1.1:7002	ERR EHOSTUNREACH
$UP_IP:9099	$(up direct "$UP_IP" 9099)"
OUT_B="10.97.0.1:9080	$(up b2 "$UP_IP" 9094)
10.97.0.2:9080	$(up b1 "$UP_IP" 9093)
10.97.1.1:7001	ERR EHOSTUNREACH
10.97.1.1:7002	ERR ECONNREFUSED
$UP_IP:9099	$(sc "$UP_IP" 9099)"
TARGETS=(10.97.0.1 9080 10.97.0.2 9080 10.97.1.1 7001 10.97.1.1 7002 "$UP_IP" 9099)

# Each table alone gives exactly its outcomes (20 rounds over the targets).
for t in A B; do
	f=$TA
	exp=$OUT_A
	[ "$t" == B ] && f=$TB exp=$OUT_B
	out=$("$MESHWARP" routes apply "$f" 2>&1)
	mw_expect_eq "(d) table $t alone: applied" 0 $? || mw_die "(d) table $t: $out"
	out=$(tally -n 100 "${TARGETS[@]}")
	mw_expect_eq "(d) table $t alone: 20 connections per target, each as $t says" \
		"$(sed 's/^/20\t/' <<<"$exp" | LC_ALL=C sort)
total	100" "$(grep -v '^total' <<<"$out" | LC_ALL=C sort; tail -n 1 <<<"$out")"
done

# Now A, B, A, ... while the clients run.
STOP=$MW_TMP/stop-clients
rm -f "$STOP"
before=$(snap)
g=$(gen)
pids=()
for i in $(seq "$N_CLIENTS"); do
	mw_in_pod pod "$TALLY" -n 1000000 -u "$STOP" "${TARGETS[@]}" >"$MW_TMP/client-$i.out" 2>&1 &
	pids+=($!)
done
mw_defer "touch $STOP; wait ${pids[*]} 2>/dev/null"
ok=0
bad=""
for i in $(seq "$N_APPLY"); do
	f=$TA
	[ $((i % 2)) -eq 1 ] && f=$TB
	if o=$("$MESHWARP" routes apply "$f" 2>&1); then
		ok=$((ok + 1))
	elif [ -z "$bad" ]; then
		bad="apply $i of $f: $o"
	fi
done
touch "$STOP"
wait "${pids[@]}"
mw_expect_eq "(d) $N_APPLY applies, every one exit 0" "$N_APPLY" "$ok${bad:+ ($bad)}"
mw_expect_eq "(d) one generation per apply" "$((g + N_APPLY))" "$(gen)"

# Sum the clients' tallies per target and outcome.
sum=$(cat "$MW_TMP"/client-*.out | awk -F'\t' '$1 == "total" { t += $2; next }
	{ n[$2 "\t" $3] += $1 } END { for (k in n) print n[k] "\t" k; print "total\t" t }' |
	LC_ALL=C sort -t$'\t' -k2,3)
total=$(awk -F'\t' '$1 == "total" { print $2 }' <<<"$sum")
echo "# (d) $ok applies (A, B, A, ...) while $N_CLIENTS clients made $total connections (at ${SECONDS}s):"
sed 's/^/#   /' <<<"$sum"
allowed=$(printf '%s\n%s\n' "$OUT_A" "$OUT_B")
impossible=$(awk -F'\t' 'NR == FNR { ok[$1 "\t" $2] = 1; next }
	$1 != "total" && !(($2 "\t" $3) in ok)' <(echo "$allowed") <(echo "$sum"))
mw_expect_eq "(d) every connection's outcome is one that A or B gives" "" "$impossible"
if [ "${total:-0}" -ge 1000 ]; then
	mw_pass "(d) thousands of connections during the applies ($total)"
else
	mw_fail "(d) thousands of connections during the applies" "only ${total:-0}"
fi
# Both tables were seen deciding every target (the switches happened under the clients).
seen=$(awk -F'\t' 'NR == FNR { ok[$1 "\t" $2] = 1; next }
	$1 != "total" && (($2 "\t" $3) in ok) { print $2 "\t" $3 }' <(echo "$allowed") <(echo "$sum") |
	LC_ALL=C sort | paste -sd '|')
mw_expect_eq "(d) both tables' outcomes seen for every target" \
	"$(LC_ALL=C sort <<<"$allowed" | paste -sd '|')" "$seen"
# The counters: one decision per connection, of the kind the outcome says.
fwd=$(awk -F'\t' '$3 ~ /^UPSTREAM [ab][12] / { s += $1 } END { print s + 0 }' <<<"$sum")
rej=$(awk -F'\t' '$3 ~ /^ERR / { s += $1 } END { print s + 0 }' <<<"$sum")
byp=$(awk -F'\t' '$3 ~ /^UPSTREAM direct / { s += $1 } END { print s + 0 }' <<<"$sum")
red=$(awk -F'\t' '$3 ~ /^SIDECAR / { s += $1 } END { print s + 0 }' <<<"$sum")
expect_counters "(d) during the applies" "$before" \
	"gen=$N_APPLY redirect=$red rule=$byp reject=$rej forward=$fwd sc2=$red"
D_APPLIES=$ok
D_CONNS=${total:-0}

echo "# summary: (a) v1 $A_V1, v2 $A_V2 of $NW; (d) $D_APPLIES applies, $D_CONNS connections"
mw_test_end
