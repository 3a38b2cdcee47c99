#!/usr/bin/env bash
# `make bench`: what interception costs, measured side by side with real tools.
#
#   bench/run.sh [--quick] [--rounds N] [--seconds S] [--two-core-rounds N] [--no-two-core]
#                [--workloads http_ka,http_1c,connrate,pingpong,bulk_large,bulk_1k] [--paths a,b,c,d,p]
#                [--perf]   (perf record -g of the path's CPUs during every run, and a summary)
#
# Paths (each a pod namespace of its own, the same HAProxy config in every sidecar):
#   (a) client -> upstream directly, no mesh, no sidecar                     the floor
#   (b) App Mesh's iptables rules (the contract's, lib.sh mw_iptables_appmesh) -> HAProxy -> upstream
#   (c) meshwarp interception (meshwarp init) -> HAProxy -> upstream
#   (d) meshwarp with the local shortcut (MESHWARP_SHORTCUT=1 at init), when init accepts it
#   (p) the client dials HAProxy's explicit frontend on 127.0.0.1, no interception:
#       the floor for any interceptor that keeps a user-space sidecar
# Workloads: keep-alive HTTP with many connections and with one (wrk), a new connection per
# request (bench/mwb-connrate.c, RST close), TCP ping-pong latency (sockperf), one bulk stream
# with 128 KiB and with 1 KiB writes (iperf3). Plus: enrolment wall time (meshwarp init, and
# the iptables rules for comparison), and slots for tracking/metrics cost and agent memory.
#
# Rounds are interleaved (every path of a workload back to back, the path order rotating each
# round). The headline table pins every process of a path (client, sidecar, upstream) to CPU 0:
# on this nested VM idle cores wake slowly and two-core numbers swing 3x between runs. A second
# table repeats it on CPUs 0-1. Results: bench/results/bench-<time>[-quick].{md,tsv,png}
# (git-ignored) and latest.{md,png} links. The last line is "bench: N passed, M failed[, K
# skipped]": a pass is one (workload, path) cell of the headline table that produced a number.
# Performance is never asserted: only whether each path produced numbers.
#
# Everything runs in namespaces and cgroups this script creates (tests/integration/lib.sh) and is
# removed on every exit path. Traffic goes only to loopback and to addresses inside those
# namespaces. Every client run is bounded by `timeout`.
#
# Environment: MESHWARP (default build/meshwarp), BUILD (default build), CC (default cc).
set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
START_NS=$(date +%s%N)
LOAD_START=$(cut -d" " -f1-3 /proc/loadavg)
ARGS_TEXT="bench/run.sh${*:+ $*}"

QUICK=0
ROUNDS=5
SECONDS_PER_RUN=3
ROUNDS_2CORE=3
TWO_CORE=1
ALL_WORKLOADS=(http_ka http_1c connrate pingpong bulk_large bulk_1k)
WL_ARG=
PATHS_ARG=
PERF=0

usage() {
	sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

bn_int() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
		echo "bench: $1 wants an integer >= $3" >&2
		exit 2
	fi
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) bn_int "$1" "${2:-}" 1; ROUNDS=$2; shift ;;
	--seconds) bn_int "$1" "${2:-}" 1; SECONDS_PER_RUN=$2; shift ;;
	--two-core-rounds) bn_int "$1" "${2:-}" 1; ROUNDS_2CORE=$2; shift ;;
	--no-two-core) TWO_CORE=0 ;;
	--workloads) WL_ARG=${2:-}; shift ;;
	--paths) PATHS_ARG=${2:-}; shift ;;
	--perf) PERF=1 ;;
	-h | --help) usage ;;
	*) echo "bench: unknown argument $1" >&2; usage ;;
	esac
	shift
done
WORKLOADS=("${ALL_WORKLOADS[@]}")
if [ -n "$WL_ARG" ]; then
	IFS=, read -r -a WORKLOADS <<<"$WL_ARG"
	for w in "${WORKLOADS[@]}"; do
		[[ " ${ALL_WORKLOADS[*]} " == *" $w "* ]] ||
			{ echo "bench: unknown workload $w (${ALL_WORKLOADS[*]})" >&2; exit 2; }
	done
fi
if [ -n "$PATHS_ARG" ]; then
	[[ $PATHS_ARG =~ ^[abcdp](,[abcdp])*$ ]] ||
		{ echo "bench: --paths wants a comma-separated subset of a,b,c,d,p" >&2; exit 2; }
fi
if [ "$QUICK" -eq 1 ]; then
	ROUNDS=1
	SECONDS_PER_RUN=1
	TWO_CORE=0
fi
ENROL_SAMPLES=$([ "$QUICK" -eq 1 ] && echo 1 || echo 5)
CONNRATE_SECS=$([ "$QUICK" -eq 1 ] && echo 0.6 || echo "$SECONDS_PER_RUN")
CONNRATE_WARM=$([ "$QUICK" -eq 1 ] && echo 0.2 || echo 0.5)
WRK_CONNS=100		# "many connections"
CONNRATE_CONC=16	# connections in flight in mwb-connrate
PP_MSG=64		# sockperf message size (bytes)

# Without a summary line make check's runner counts this as a failure; say why.
# bn_el: seconds since the start, for the progress lines.
bn_el() {
	local d=$(( ($(date +%s%N) - START_NS) / 100000000 ))
	printf "%3d.%ds" $((d / 10)) $((d % 10))
}

bn_abort() {
	echo "bench: $*" >&2
	echo "bench: 0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" -eq 0 ] || bn_abort "must run as root (namespaces, cgroups, bpffs)"
missing=()
for t in wrk sockperf iperf3 gnuplot haproxy nginx iptables taskset nsenter setpriv jq socat \
	 timeout ip; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ "${#missing[@]}" -eq 0 ] ||
	bn_abort "missing ${missing[*]}: run bench/install-deps.sh (and scripts/install-deps.sh)"

BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$REPO/$BUILD
export MESHWARP=${MESHWARP:-$BUILD/meshwarp}
[ -x "$MESHWARP" ] || bn_abort "$MESHWARP missing: run make first"
CONNRATE=$BUILD/bench/mwb-connrate
if [ ! -x "$CONNRATE" ] || [ "$BENCH_DIR/mwb-connrate.c" -nt "$CONNRATE" ]; then
	if ! { mkdir -p "$BUILD/bench" &&
		"${CC:-cc}" -std=gnu11 -O2 -g -Wall -Wextra -Werror -o "$CONNRATE.tmp" \
			"$BENCH_DIR/mwb-connrate.c" && mv "$CONNRATE.tmp" "$CONNRATE"; }; then
		bn_abort "cannot build $CONNRATE"
	fi
fi
LUA=$BENCH_DIR/wrk-report.lua
# Every meshwarp command is bounded in time (a hung one must not hang the bench).
MW_TO=(timeout -k 5 60)
MW_TO_STATUS=(timeout -k 2 20)
# Which meshwarp is measured: the tree's build, or another binary given in MESHWARP.
if [ "$MESHWARP" == "$BUILD/meshwarp" ]; then
	MW_BIN_ID="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo "?") ($MESHWARP)"
else
	MW_BIN_ID="$MESHWARP (given in MESHWARP)"
fi

RESULTS=$BENCH_DIR/results
mkdir -p "$RESULTS" || bn_abort "cannot create $RESULTS"
STAMP=$(date -u +%Y%m%d-%H%M%S)$([ "$QUICK" -eq 1 ] && echo -quick)
OUT_MD=$RESULTS/bench-$STAMP.md
OUT_TSV=$RESULTS/bench-$STAMP.tsv
OUT_PNG=$RESULTS/bench-$STAMP.png

# shellcheck source=tests/integration/lib.sh
. "$REPO/tests/integration/lib.sh"

mw_test_begin bench
# Our inits never ask an agent somebody else runs at the default socket: standalone enrolment.
export MESHWARP_AGENT_SOCKET=$MW_TMP/no-agent.sock

# ---------------------------------------------------------------------------------------------
# Topology.
#
#   pod "plain"  (a) and (p)  10.250.1.1 ==veth== 10.250.1.2 \
#   pod "ipt"    (b)          10.250.2.1 ==veth== 10.250.2.2  \  "up": 10.250.0.1 on lo (SVC):
#   pod "mesh"   (c)          10.250.3.1 ==veth== 10.250.3.2  /  nginx :8080, sockperf :11111,
#   pod "short"  (d)          10.250.4.1 ==veth== 10.250.4.2 /   iperf3 :5201
#                                          "upd": the same upstreams for (d), on 10.250.4.2
# (d)'s upstream is a namespace of its own, in $MW_CG/mesh and enrolled with the shortcut like
# pod short, so the sidecar's upstream hop pairs too (both ends seen by sockops, both workloads
# with the shortcut); (a), (b), (c) and (p) keep "up", which meshwarp never sees.
# Every pod routes SVC through its veth, so every path dials the same address and every sidecar
# has the same config. Cgroups: $MW_CG/mesh is where meshwarp attaches (pods c and d: clients and
# sidecars); everything else lives in $MW_CG/plain, which meshwarp's programs never see, so (a),
# (b) and (p) carry no BPF cost.

SVC=10.250.0.1
PORT_HTTP=8080
# A new connection per request goes to a port of its own: the shortcut holds a destination
# whose connections are short (docs/shortcut.md, the rule), and keep-alive HTTP to the same
# port would then be measured held too; each workload here is a shape of its own.
PORT_CONN=8081
PORT_PP=11111
PORT_BULK=5201
export APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001 \
	APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_APP_PORTS=9080 \
	APPMESH_EGRESS_IGNORED_IP=169.254.169.254 APPMESH_ENABLE_IPV6=1
unset APPMESH_IGNORE_GID APPMESH_EGRESS_IGNORED_PORTS MESHWARP_SHORTCUT

CG_MESH=$MW_CG/mesh
CG_PLAIN=$MW_CG/plain
mkdir "$CG_MESH" "$CG_PLAIN" || mw_die "cannot create $CG_MESH and $CG_PLAIN"
export MESHWARP_CGROUP=$CG_MESH

mw_netns up
mw_in_ns up ip addr add "$SVC/32" dev lo || mw_die "SVC address failed"
mw_netns upd
mw_in_ns upd ip addr add "$SVC/32" dev lo || mw_die "SVC address in upd failed"
i=1
for pod in plain ipt mesh short; do
	mw_netns "$pod"
	up=up
	[ "$pod" == short ] && up=upd
	mw_veth "$pod" "10.250.$i.1" "$up" "10.250.$i.2"
	mw_in_ns "$pod" ip route add "$SVC/32" via "10.250.$i.2" || mw_die "route in $pod failed"
	i=$((i + 1))
done
# Client ports are reused fast in the connection-rate test; the same in every namespace.
for ns in up upd plain ipt mesh short; do
	mw_in_ns "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 64999" ||
		mw_die "sysctl in $ns failed"
done

# ---------------------------------------------------------------------------------------------
# Process helpers: every process of a path goes through bn_argv (cgroup, netns, CPUs, uid).

declare -a BN_ARGV
# bn_argv CG NS CPUS [--uid UID:GID] CMD...: sets BN_ARGV to "CG nsenter ... taskset ... CMD".
bn_argv() {
	local cgd=$1 ns cpus=$3
	local -a priv=()
	ns=/run/netns/$(mw_ns "$2")
	shift 3
	if [ "${1:-}" == --uid ]; then
		priv=(setpriv --reuid "${2%%:*}" --regid "${2#*:}" --clear-groups)
		shift 2
	fi
	BN_ARGV=("$cgd" nsenter --net="$ns" "${priv[@]}" taskset -c "$cpus" "$@")
}
BN_SH='echo $$ > "$1/cgroup.procs" || exit 126; shift; exec "$@"'

# bn_spawn NAME CG NS CPUS [--uid U:G] CMD...: a background server, killed at exit. MW_PID, MW_LOG.
bn_spawn() {
	local name=$1
	shift
	bn_argv "$@"
	MW_LOG=$MW_TMP/$name.log
	sh -c "$BN_SH" bn "${BN_ARGV[@]}" >"$MW_LOG" 2>&1 </dev/null &
	MW_PID=$!
	mw_register_pid "$MW_PID"
}

# bn_client SECONDS CG NS CPUS CMD...: a client run, stdout+stderr on stdout, killed past SECONDS.
bn_client() {
	local t=$1
	shift
	bn_argv "$@"
	timeout -k 3 "$t" sh -c "$BN_SH" bn "${BN_ARGV[@]}" 2>&1 </dev/null
}

# bn_hap_stot POD: sessions accepted so far by the sidecar of POD: its egress frontend, or for
# pod "plain" (path p) its explicit frontends. Three tries: on a busy CPU 0 the single-threaded
# sidecar can take seconds to answer its stats socket. "none" when it never did.
bn_hap_stot() {
	local re=egress v _
	[ "$1" == plain ] && re='explicit_.*'
	for _ in 1 2 3; do
		v=$(echo "show stat" |
			timeout 20 socat -t 10 - "UNIX-CONNECT:$MW_RUN/haproxy-$1.sock" 2>/dev/null |
			awk -F, -v re="^($re)\$" '
				NR == 1 { for (i = 1; i <= NF; i++) if ($i == "stot") c = i; next }
				$2 == "FRONTEND" && $1 ~ re && c { s += $c; f = 1 }
				END { print f ? s : "none" }')
		[[ $v =~ ^[0-9]+$ ]] && break
		sleep 0.5
	done
	echo "$v"
}

# ---------------------------------------------------------------------------------------------
# Enrolment: (b) gets the contract's iptables rules, (c) and (d) `meshwarp init`, timed.

declare -a ENROL_ROWS=()	# "label<TAB>ms ms ms..."

bn_now_us() { echo $(($(date +%s%N) / 1000)); }
bn_us_since() { echo $(($(date +%s%N) / 1000 - $1)); }

echo "# $(bn_el) topology ready"
mw_iptables_appmesh ipt || mw_die "App Mesh iptables rules in pod ipt failed"

t0=$(bn_now_us)
out=$(env -u MESHWARP_SHORTCUT "${MW_TO[@]}" ip netns exec "$(mw_ns mesh)" "$MESHWARP" init 2>&1) ||
	mw_die "meshwarp init in pod mesh failed: $out"
ENROL_COLD_FIRST=$(bn_us_since "$t0")
echo "# (c) enrolled: $out" | head -n 3

# (d): enrol with the shortcut asked for; keep it only if status says the workload has it.
SHORTCUT=absent
out=$(MESHWARP_SHORTCUT=1 "${MW_TO[@]}" ip netns exec "$(mw_ns short)" "$MESHWARP" init 2>&1) ||
	echo "# (d) meshwarp init with MESHWARP_SHORTCUT=1 failed: $out"
status_json=$(mw_in_ns short "${MW_TO_STATUS[@]}" "$MESHWARP" status -j 2>/dev/null)
SHORTCUT=$(jq -r '[.workloads[]? | select(.current)][0] // null |
	if . == null then "no-workload" elif has("shortcut") then (.shortcut | tostring)
	else "absent" end' <<<"$status_json" 2>/dev/null)
[ -n "$SHORTCUT" ] || SHORTCUT=no-status
SC_HOLD=$(jq -r '.shortcut.hold_seconds // "?"' <<<"$status_json" 2>/dev/null)
if [ "$SHORTCUT" == true ]; then
	# (d)'s upstream with the shortcut too; without it (d) is the first hop only, and says so.
	out=$(MESHWARP_SHORTCUT=1 "${MW_TO[@]}" ip netns exec "$(mw_ns upd)" "$MESHWARP" init 2>&1) ||
		echo "# (d) upstream: meshwarp init with MESHWARP_SHORTCUT=1 failed: $out"
	[ "$(mw_in_ns upd "${MW_TO_STATUS[@]}" "$MESHWARP" status -j 2>/dev/null |
		jq -r '[.workloads[]? | select(.current)][0].shortcut // false')" == true ] ||
		echo "# (d) upstream without the shortcut: only the app-sidecar hop pairs"
	PATHS=(a b c d p)
	D_NOTE=
else
	PATHS=(a b c p)
	D_NOTE="(d) not available: shortcut not implemented"
	case $SHORTCUT in
	false) D_NOTE="(d) not available: status -j shows shortcut false after MESHWARP_SHORTCUT=1 init" ;;
	no-status) D_NOTE="(d) not available: meshwarp status -j failed or timed out, shortcut unknown" ;;
	no-workload) D_NOTE="(d) not available: MESHWARP_SHORTCUT=1 init did not enrol the pod" ;;
	esac
	"${MW_TO[@]}" ip netns exec "$(mw_ns short)" "$MESHWARP" init disable >/dev/null 2>&1
	echo "# $D_NOTE"
fi
if [ -n "$PATHS_ARG" ]; then
	IFS=, read -r -a want <<<"$PATHS_ARG"
	kept=()
	for p in "${PATHS[@]}"; do
		[[ " ${want[*]} " == *" $p "* ]] && kept+=("$p")
	done
	[ "${#kept[@]}" -gt 0 ] || mw_die "--paths $PATHS_ARG: none of them is available (${PATHS[*]})"
	PATHS=("${kept[@]}")
fi

# ton/toff: path (c) with connection tracking on/off (bn_tracking).
declare -A PATH_POD=([a]=plain [b]=ipt [c]=mesh [d]=short [p]=plain [ton]=mesh [toff]=mesh)
declare -A PATH_CG=([a]=$CG_PLAIN [b]=$CG_PLAIN [c]=$CG_MESH [d]=$CG_MESH [p]=$CG_PLAIN
		    [ton]=$CG_MESH [toff]=$CG_MESH)
declare -A PATH_NAME=([a]="(a) direct" [b]="(b) iptables" [c]="(c) meshwarp" [d]="(d) shortcut"
		      [p]="(p) sidecar explicit" [ton]="(c) tracking on" [toff]="(c) tracking off")

# Enrolment timings on scratch namespaces (deleted after each sample).
bn_enrol_samples() {
	local i ns t0 cold_pin cold=() warm=() ipt=()
	for i in $(seq "$ENROL_SAMPLES"); do
		# warm: programs already loaded (pin dir of the run), a new namespace
		ns=$(mw_ns "e$i")
		ip netns add "$ns" && MW_NETNS+=("$ns")
		ip -n "$ns" link set lo up
		t0=$(bn_now_us)
		"${MW_TO[@]}" ip netns exec "$ns" "$MESHWARP" init >/dev/null 2>&1 && warm+=("$(bn_us_since "$t0")")
		"${MW_TO[@]}" ip netns exec "$ns" "$MESHWARP" init disable >/dev/null 2>&1
		# cold: nothing pinned yet (a pin dir of its own, an empty cgroup); not in --quick, where
		# the first enrolment of the run is the one cold sample
		if [ "$QUICK" -eq 0 ]; then
			cold_pin=/sys/fs/bpf/${MW_ID}k$i
			mkdir -p "$MW_CG/scratch"
			mw_defer "MESHWARP_PIN_DIR=$cold_pin timeout 30 $MESHWARP unload >/dev/null 2>&1; rm -rf $cold_pin"
			t0=$(bn_now_us)
			MESHWARP_PIN_DIR=$cold_pin MESHWARP_CGROUP=$MW_CG/scratch \
				"${MW_TO[@]}" ip netns exec "$ns" "$MESHWARP" init >/dev/null 2>&1 &&
				cold+=("$(bn_us_since "$t0")")
			MESHWARP_PIN_DIR=$cold_pin timeout 30 "$MESHWARP" unload >/dev/null 2>&1
		fi
		ip netns del "$ns"
		# the iptables proxy-init equivalent, on a fresh namespace
		ns=$(mw_ns "f$i")
		ip netns add "$ns" && MW_NETNS+=("$ns")
		t0=$(bn_now_us)
		mw_iptables_appmesh "f$i" 2>/dev/null && ipt+=("$(bn_us_since "$t0")")
		ip netns del "$ns"
	done
	ENROL_ROWS+=("meshwarp init, first enrolment of the run (loads and attaches)	$ENROL_COLD_FIRST")
	ENROL_ROWS+=("meshwarp init, cold (nothing pinned: probe, load, attach, enrol)	${cold[*]:-}")
	ENROL_ROWS+=("meshwarp init, warm (programs pinned: enrol a new namespace)	${warm[*]:-}")
	ENROL_ROWS+=("App Mesh iptables rules (mw_iptables_appmesh, for comparison)	${ipt[*]:-}")
}
bn_enrol_samples
echo "# $(bn_el) enrolment timed"

# ---------------------------------------------------------------------------------------------
# Servers, per CPU mode: upstreams in "up", one HAProxy per pod with a sidecar.

SERVER_PIDS=()

bn_haproxy_cfg() {	# POD THREADS
	cat <<EOF
# The sidecar (Envoy's stand-in): the same config in every pod.
global
	stats socket $MW_RUN/haproxy-$1.sock mode 666 level admin
	maxconn 4096
	nbthread $2

defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s

# Intercepted traffic: relays to the original destination (SO_ORIGINAL_DST).
frontend egress
	bind 0.0.0.0:$APPMESH_ENVOY_EGRESS_PORT
	default_backend orig

backend orig
	server s 0.0.0.0:0

# Explicit frontends: path (p) dials them, no interception.
frontend explicit_http
	bind 127.0.0.1:15080
	default_backend up_http

backend up_http
	server s $SVC:$PORT_HTTP

frontend explicit_conn
	bind 127.0.0.1:15081
	default_backend up_conn

backend up_conn
	server s $SVC:$PORT_CONN

frontend explicit_pp
	bind 127.0.0.1:15011
	default_backend up_pp

backend up_pp
	server s $SVC:$PORT_PP

frontend explicit_bulk
	bind 127.0.0.1:15201
	default_backend up_bulk

backend up_bulk
	server s $SVC:$PORT_BULK
EOF
}

bn_nginx_cfg() {	# DIR WORKERS
	cat <<EOF
daemon off;
master_process on;
worker_processes $2;
pid $1/nginx.pid;
error_log stderr error;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	client_body_temp_path $1/body;
	proxy_temp_path $1/proxy;
	fastcgi_temp_path $1/fastcgi;
	uwsgi_temp_path $1/uwsgi;
	scgi_temp_path $1/scgi;
	server {
		listen $SVC:$PORT_HTTP;
		listen $SVC:$PORT_CONN;
		location / {
			default_type text/plain;
			return 200 "ok\n";
		}
	}
}
EOF
}

# bn_start_servers CPUS THREADS
bn_start_servers() {
	local cpus=$1 threads=$2 dir pod cgd pods=(plain ipt mesh)
	[ "$SHORTCUT" == true ] && pods+=(short)
	SERVER_PIDS=()
	dir=$MW_TMP/nginx
	mkdir -p "$dir"
	bn_nginx_cfg "$dir" "$threads" >"$dir/nginx.conf"
	bn_spawn nginx "$CG_PLAIN" up "$cpus" nginx -e stderr -p "$dir" -c "$dir/nginx.conf"
	SERVER_PIDS+=("$MW_PID")
	bn_spawn sockperf "$CG_PLAIN" up "$cpus" sockperf sr --tcp -i "$SVC" -p "$PORT_PP"
	SERVER_PIDS+=("$MW_PID")
	bn_spawn iperf3 "$CG_PLAIN" up "$cpus" iperf3 -s -B "$SVC" -p "$PORT_BULK" --idle-timeout 30
	SERVER_PIDS+=("$MW_PID")
	if [ "$SHORTCUT" == true ]; then	# (d)'s upstreams: seen by sockops, in "upd"
		mkdir -p "$dir-d"
		bn_nginx_cfg "$dir-d" "$threads" >"$dir-d/nginx.conf"
		bn_spawn nginx-d "$CG_MESH" upd "$cpus" nginx -e stderr -p "$dir-d" -c "$dir-d/nginx.conf"
		SERVER_PIDS+=("$MW_PID")
		bn_spawn sockperf-d "$CG_MESH" upd "$cpus" sockperf sr --tcp -i "$SVC" -p "$PORT_PP"
		SERVER_PIDS+=("$MW_PID")
		bn_spawn iperf3-d "$CG_MESH" upd "$cpus" iperf3 -s -B "$SVC" -p "$PORT_BULK" \
			--idle-timeout 30
		SERVER_PIDS+=("$MW_PID")
	fi
	for pod in "${pods[@]}"; do
		bn_haproxy_cfg "$pod" "$threads" >"$MW_TMP/haproxy-$pod.cfg"
		chmod 0644 "$MW_TMP/haproxy-$pod.cfg"
		cgd=$CG_PLAIN
		if [ "$pod" == mesh ] || [ "$pod" == short ]; then
			cgd=$CG_MESH
		fi
		bn_spawn "haproxy-$pod" "$cgd" "$pod" "$cpus" --uid 1337:1337 \
			haproxy -db -f "$MW_TMP/haproxy-$pod.cfg"
		SERVER_PIDS+=("$MW_PID")
	done
	for pod in "${pods[@]}"; do
		mw_wait_port "$pod" "$APPMESH_ENVOY_EGRESS_PORT" || mw_die "HAProxy in $pod did not listen"
	done
	mw_wait_port plain 15080 || mw_die "HAProxy's explicit frontends in pod plain did not listen"
	mw_wait_port up "$PORT_HTTP" || mw_die "nginx did not listen"
	mw_wait_port up "$PORT_CONN" || mw_die "nginx did not listen on $PORT_CONN"
	mw_wait_port up "$PORT_PP" || mw_die "sockperf server did not listen"
	mw_wait_port up "$PORT_BULK" || mw_die "iperf3 server did not listen"
	if [ "$SHORTCUT" == true ]; then
		mw_wait_port upd "$PORT_HTTP" || mw_die "nginx in upd did not listen"
		mw_wait_port upd "$PORT_PP" || mw_die "sockperf server in upd did not listen"
		mw_wait_port upd "$PORT_BULK" || mw_die "iperf3 server in upd did not listen"
	fi
	echo "# $(bn_el) servers up"
}

bn_stop_servers() {
	local pid
	kill -TERM "${SERVER_PIDS[@]}" 2>/dev/null	# all at once; mw_kill then waits for each
	for pid in "${SERVER_PIDS[@]}"; do
		mw_kill "$pid"
	done
	SERVER_PIDS=()
}

# --perf: a call-graph profile of the path's CPUs (everything on them, other users of the
# machine included) for the length of each run, in $PERF_DIR/<mode>-r<round>-<workload>-<path>.data,
# and a flat profile beside it (.txt: the top symbols, children excluded).
PERF_DIR=$RESULTS/perf-$STAMP
PERF_PID=
PERF_NAME=
bn_perf_start() {	# NAME CPUS
	command -v perf >/dev/null 2>&1 || { echo "bench: --perf: perf missing" >&2; PERF=0; return; }
	mkdir -p "$PERF_DIR"
	PERF_NAME=$PERF_DIR/$1
	perf record -q -g -C "$2" -o "$PERF_NAME.data" >/dev/null 2>&1 </dev/null &
	PERF_PID=$!
	mw_register_pid "$PERF_PID"
	sleep 0.3	# perf's setup, so the run is covered from its start
}
bn_perf_stop() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null
	wait "$PERF_PID" 2>/dev/null
	PERF_PID=
	timeout 120 perf report -i "$PERF_NAME.data" --no-children -g none --sort dso,symbol --stdio \
		2>/dev/null | grep -v '^$' | grep -E '^ +[0-9]' | head -n 60 >"$PERF_NAME.txt"
}

# bn_sc_events: the shortcut's event counters (host-wide for this run's pin dir; only pod
# "short" has the shortcut, so their moves during a (d) run are that run's), in SC_EVENTS order.
SC_EVENTS=(paired unpaired messages bytes left_budget left_peer_gone left_turned_off
	   insert_errors table_full holds held no_peer not_local)
declare -a SC_ROWS=()	# one line per (d) run: what the counters did during it
bn_sc_events() {
	local names
	names=$(printf '"%s",' "${SC_EVENTS[@]}")
	mw_in_ns short "${MW_TO_STATUS[@]}" "$MESHWARP" status -j 2>/dev/null |
		jq -r "(.shortcut.events // {}) as \$e | [${names%,}] | map(\$e[.] // \"?\") | join(\" \")" \
			2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# One measurement: a workload on a path. Appends "mode round workload path metric value" rows to
# the raw TSV; returns non-zero when the run produced no number.

FAILS=()
ERR_DETAIL=()

# bn_cpu_us: CPU time (user + system, microseconds) used so far by everything in the test cgroup.
bn_cpu_us() {
	awk '$1 == "usage_usec" { print $2 }' "$MW_CG/cpu.stat" 2>/dev/null
}

bn_kv() {	# KEY LINE: the value of KEY=value in LINE
	sed -nE "s/.*(^| )$1=([^ ]*).*/\\2/p" <<<"$2" | head -n 1
}

bn_record() {	# MODE ROUND WORKLOAD PATH METRIC VALUE
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT_TSV"
}

bn_measure() {
	local mode=$1 round=$2 w=$3 p=$4 cpus=$5 threads=$6
	local pod=${PATH_POD[$p]} cgd=${PATH_CG[$p]} host=$SVC ph=$PORT_HTTP pp=$PORT_PP pb=$PORT_BULK
	local pc=$PORT_CONN
	local s=$SECONDS_PER_RUN lim=$((SECONDS_PER_RUN + 20)) out line v before after
	local cpu0 cpu1 ops= sc0= sc1=
	local -a vals=()
	if [ "$p" == p ]; then
		host=127.0.0.1 ph=15080 pp=15011 pb=15201 pc=15081
	fi
	[ "$p" != a ] && before=$(bn_hap_stot "$pod")
	[ "$p" == d ] && sc0=$(bn_sc_events)
	[ "$PERF" -eq 1 ] && bn_perf_start "$mode-r$round-$w-$p" "$cpus"
	cpu0=$(bn_cpu_us)
	case $w in
	http_ka | http_1c)
		local t=$threads c=$WRK_CONNS
		[ "$w" == http_1c ] && t=1 c=1
		out=$(bn_client "$lim" "$cgd" "$pod" "$cpus" wrk -t "$t" -c "$c" -d "${s}s" \
			--timeout 2s -s "$LUA" "http://$host:$ph/")
		line=$(grep '^WRKRESULT' <<<"$out")
		v=$(bn_kv requests "$line")
		if [ -n "$v" ] && [ "$v" -gt 0 ] && [ "$(bn_kv non2xx "$line")" == 0 ]; then
			vals=(rps "$(bn_kv rps "$line")" p50_us "$(bn_kv p50_us "$line")"
			      p99_us "$(bn_kv p99_us "$line")" errors "$(bn_kv errors "$line")")
			ops=$v
			if [ "$(bn_kv errors "$line")" != 0 ]; then
				ERR_DETAIL+=("$mode r$round $w ${PATH_NAME[$p]}: $(bn_kv errors "$line") socket errors (connect $(bn_kv err_connect "$line"), read $(bn_kv err_read "$line"), write $(bn_kv err_write "$line"), timeout $(bn_kv err_timeout "$line")), $(bn_kv requests "$line") requests")
			fi
		fi
		;;
	connrate)
		out=$(bn_client "$lim" "$cgd" "$pod" "$cpus" "$CONNRATE" -c "$CONNRATE_CONC" \
			-d "$CONNRATE_SECS" -w "$CONNRATE_WARM" "$host" "$pc")
		line=$(grep '^CONNRATE' <<<"$out")
		v=$(bn_kv conns "$line")
		if [ -n "$v" ] && [ "$v" -gt 0 ]; then
			vals=(cps "$(bn_kv cps "$line")" p99_us "$(bn_kv p99_us "$line")"
			      max_us "$(bn_kv max_us "$line")" errors "$(bn_kv errors "$line")")
			ops=$(bn_kv total "$line")
		fi
		;;
	pingpong)
		out=$(bn_client "$lim" "$cgd" "$pod" "$cpus" sockperf pp --tcp -i "$host" -p "$pp" \
			-t "$s" -m "$PP_MSG" --full-rtt)
		local p50 p99
		p50=$(awk '/---> percentile 50.000 =/ { print $NF; exit }' <<<"$out")
		p99=$(awk '/---> percentile 99.000 =/ { print $NF; exit }' <<<"$out")
		[ -n "$p50" ] && [ -n "$p99" ] && vals=(p50_us "$p50" p99_us "$p99")
		# round trips of the whole run (warm-up included, as in the CPU time)
		ops=$(sed -nE 's/.*\[Total Run\].*ReceivedMessages=([0-9]+).*/\1/p' <<<"$out" | head -n 1)
		;;
	bulk_large | bulk_1k)
		local len=128K
		[ "$w" == bulk_1k ] && len=1K
		out=$(bn_client "$lim" "$cgd" "$pod" "$cpus" iperf3 -c "$host" -p "$pb" -t "$s" \
			-l "$len" -J --connect-timeout 3000)
		v=$(jq -r '.end.sum_received.bits_per_second // empty' <<<"$out" 2>/dev/null)
		[ -n "$v" ] && vals=(gbps "$(awk -v b="$v" 'BEGIN { printf "%.3f", b / 1e9 }')")
		# MiB moved (CPU per MiB)
		ops=$(jq -r '(.end.sum_sent.bytes // 0) / 1048576 | floor' <<<"$out" 2>/dev/null)
		;;
	esac
	cpu1=$(bn_cpu_us)
	[ "$PERF" -eq 1 ] && bn_perf_stop
	[ "$p" == d ] && bn_sc_delta "$mode" "$round" "$w" "$sc0" "$(bn_sc_events)"
	# CPU time of every process of the path (client, sidecar, upstream: all of them live in the
	# test cgroup, and only this path is busy) per operation. Less sensitive than rates to what
	# else runs on the machine.
	if [ "${#vals[@]}" -gt 0 ] && [[ $ops =~ ^[0-9]+$ ]] && [ "$ops" -gt 0 ] &&
	   [[ $cpu0 =~ ^[0-9]+$ && $cpu1 =~ ^[0-9]+$ ]]; then
		vals+=(cpu_op "$(awk -v c=$((cpu1 - cpu0)) -v n="$ops" 'BEGIN { printf "%.2f", c / n }')")
	fi
	if [ "${#vals[@]}" -eq 0 ]; then
		FAILS+=("$mode r$round $w ${PATH_NAME[$p]}: no number ($(tail -n 2 <<<"$out" | tr '\n' ' '))")
		printf "%s %-6s r%s %-10s %-22s FAILED\n" "$(bn_el)" "$mode" "$round" "$w" "${PATH_NAME[$p]}"
		return 1
	fi
	# Interception check: the sidecar must have accepted this run's connections.
	if [ "$p" != a ]; then
		after=$(bn_hap_stot "$pod")
		if ! [[ $before =~ ^[0-9]+$ && $after =~ ^[0-9]+$ ]]; then
			FAILS+=("$mode r$round $w ${PATH_NAME[$p]}: the sidecar's stats socket did not answer ($before -> $after): interception not checked")
			printf "%s %-6s r%s %-10s %-22s FAILED (sidecar stats unreadable)\n" \
				"$(bn_el)" "$mode" "$round" "$w" "${PATH_NAME[$p]}"
			return 1
		fi
		if [ "$after" -le "$before" ]; then
			FAILS+=("$mode r$round $w ${PATH_NAME[$p]}: the sidecar saw no session ($before -> $after): not intercepted")
			printf "%s %-6s r%s %-10s %-22s FAILED (no session through the sidecar)\n" \
				"$(bn_el)" "$mode" "$round" "$w" "${PATH_NAME[$p]}"
			return 1
		fi
	fi
	local k summary=
	for ((k = 0; k < ${#vals[@]}; k += 2)); do
		bn_record "$mode" "$round" "$w" "$p" "${vals[k]}" "${vals[k + 1]}"
		summary+=" ${vals[k]}=${vals[k + 1]}"
	done
	printf "%s %-6s r%s %-10s %-22s%s\n" "$(bn_el)" "$mode" "$round" "$w" "${PATH_NAME[$p]}" "$summary"
}

# bn_sc_delta MODE ROUND WORKLOAD BEFORE AFTER: what the shortcut's counters did in a (d) run,
# into the TSV (metrics sc_*) and SC_ROWS for the report: whether the shortcut was engaged.
bn_sc_delta() {
	local -a b a
	local i d line=
	read -r -a b <<<"$4"
	read -r -a a <<<"$5"
	for i in "${!SC_EVENTS[@]}"; do
		if [[ ${b[i]:-} =~ ^[0-9]+$ && ${a[i]:-} =~ ^[0-9]+$ ]]; then
			d=$((a[i] - b[i]))
			bn_record "$1" "$2" "$3" d "sc_${SC_EVENTS[i]}" "$d"
		else
			d="?"
		fi
		line+=" | $d"
	done
	SC_ROWS+=("| $1 r$2 $3$line |")
}

# ---------------------------------------------------------------------------------------------
# Connection tracking and metrics, on versus off: path (c), the host-wide tracking switch
# (`meshwarp tracking on|off`, docs/metrics.md), interleaved rounds with the order alternating,
# mode "track" in the TSV. New connections per second is what tracking costs most (a record
# opened and closed, an event, per connection); keep-alive HTTP shows what its RTT and state
# callbacks cost per packet (not in --quick). The switch is left on at the end.
TRACK_NOTE="not measured: path (c) not run (--paths)"
TRACK_WL=(connrate http_ka)
[ "$QUICK" -eq 1 ] && TRACK_WL=(connrate)

bn_tracking_set() {	# on|off: set the switch, and check that it says so
	local got
	got=$("${MW_TO_STATUS[@]}" "$MESHWARP" tracking "$1" 2>&1)
	[ "$("${MW_TO_STATUS[@]}" "$MESHWARP" tracking 2>/dev/null)" == "$1" ] ||
		{ echo "# tracking $1 failed: $got"; return 1; }
}

bn_tracking() {	# CPUS THREADS ROUNDS
	local cpus=$1 threads=$2 rounds=$3 r w s order
	if ! "${MW_TO_STATUS[@]}" "$MESHWARP" tracking >/dev/null 2>&1; then
		TRACK_NOTE="not measured: no switch (\`meshwarp tracking\` is not in $MESHWARP)"
		return
	fi
	TRACK_NOTE=
	echo "# $(bn_el) tracking on versus off: ${TRACK_WL[*]}, $rounds round(s)"
	for r in $(seq "$rounds"); do
		order=(on off)
		[ $((r % 2)) -eq 0 ] && order=(off on)
		for w in "${TRACK_WL[@]}"; do
			for s in "${order[@]}"; do
				if ! bn_tracking_set "$s"; then
					NFAIL=$((NFAIL + 1))
					FAILS+=("track r$r $w: \`meshwarp tracking $s\` did not take")
					continue
				fi
				bn_measure track "$r" "$w" "t$s" "$cpus" "$threads" || NFAIL=$((NFAIL + 1))
			done
		done
	done
	bn_tracking_set on || NFAIL=$((NFAIL + 1))
}

# The tracking report: per workload and metric, median [min–max] on and off, off/on, and the
# per-round off/on (the two runs of a round are back to back).
bn_tracking_report() {
	awk -F'\t' '
	function med(list,    n, i, j, t, s) {
		n = split(list, s, " ")
		for (i = 2; i <= n; i++) { t = s[i] + 0; for (j = i - 1; j >= 1 && s[j] + 0 > t; j--) s[j + 1] = s[j]; s[j + 1] = t }
		MIN = s[1]; MAX = s[n]
		return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
	}
	NR > 1 && $1 == "track" && ($5 == "cps" || $5 == "rps" || $5 == "cpu_op" || $5 == "p99_us") {
		k = $3 " " $5
		v[k, $4] = v[k, $4] " " $6
		byr[k, $4, $2] = $6
		if (!(k in seen)) { seen[k] = ++nk; order[nk] = k }
		rounds[$2] = 1
	}
	END {
		label["connrate cps"] = "new connection per request, conn/s ↑"
		label["connrate p99_us"] = "new connection per request, p99 µs ↓"
		label["connrate cpu_op"] = "CPU per new connection, µs ↓"
		label["http_ka rps"] = "keep-alive HTTP, many conns, req/s ↑"
		label["http_ka p99_us"] = "keep-alive HTTP, many conns, p99 µs ↓"
		label["http_ka cpu_op"] = "CPU per request, many conns, µs ↓"
		print "| workload | tracking on | tracking off | off/on | off/on per round |"
		print "|---|---|---|---|---|"
		for (i = 1; i <= nk; i++) {
			k = order[i]
			if (!((k, "ton") in v) || !((k, "toff") in v)) continue
			on = med(v[k, "ton"]); onr = sprintf("%.0f [%.0f–%.0f]", on, MIN, MAX)
			off = med(v[k, "toff"]); offr = sprintf("%.0f [%.0f–%.0f]", off, MIN, MAX)
			pl = ""
			for (r in rounds) {
				if (!((k, "ton", r) in byr) || !((k, "toff", r) in byr)) continue
				if (byr[k, "ton", r] > 0) pl = pl " " byr[k, "toff", r] / byr[k, "ton", r]
			}
			pr = pl == "" ? "—" : sprintf("%.2f× [%.2f–%.2f]", med(pl), MIN, MAX)
			lb = (k in label) ? label[k] : k
			printf "| %s | %s | %s | %s | %s |\n", lb, onr, offr,
				(on > 0 ? sprintf("%.2f×", off / on) : "—"), pr
		}
	}' "$OUT_TSV"
}

# ---------------------------------------------------------------------------------------------
# The agent's memory: `meshwarp agent` on this run's pin dir (its socket and connection log in
# $MW_TMP, its metrics port inside a namespace of its own), VmRSS and VmHWM from /proc: idle;
# after enrolling AGENT_PODS new namespaces through it (their init wall time too); after the
# connections of one connrate run on path (c) (their close events reach the agent's ring buffer
# reader and its log); after a /metrics scrape. Started after the rounds, stopped before the
# report: it never runs during a measurement above.
AGENT_NOTE="not measured: path (c) not run (--paths)"
AGENT_ROWS=()
AGENT_ENROL=()
AGENT_PODS=$([ "$QUICK" -eq 1 ] && echo 2 || echo 10)

bn_rss() {	# PID: "VmRSS kB VmHWM kB"
	awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { print r + 0, h + 0 }' \
		"/proc/$1/status" 2>/dev/null
}

bn_agent_row() {	# PID LABEL
	local m
	read -r -a m <<<"$(bn_rss "$1")"
	AGENT_ROWS+=("| $2 | $(awk -v k="${m[0]:-0}" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="${m[1]:-0}" 'BEGIN { printf "%.1f", k / 1024 }') |")
}

bn_agent_memory() {	# CPUS
	local cpus=$1 sock=$MW_TMP/agent/enrol.sock log=$MW_TMP/agent-conns.jsonl apid alog i ns t0 n0 n1
	local mport=$((20000 + 16#${MW_ID#mw} % 10000 * 3 + 1))
	if ! "${MW_TO[@]}" "$MESHWARP" help 2>&1 | grep -Eq '^  agent( |$)'; then
		AGENT_NOTE="not measured: no agent (\`meshwarp help\` lists no \`agent\` command)"
		return
	fi
	mw_netns agent
	mkdir -p "$MW_TMP/agent"
	# In the test cgroup, whose CPU time the rounds measure: so it runs only now.
	bn_spawn agent "$CG_PLAIN" agent "$cpus" "$MESHWARP" agent --socket "$sock" \
		--conn-log "$log" --metrics-addr "127.0.0.1:$mport"
	apid=$MW_PID
	alog=$MW_LOG
	for i in $(seq 100); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	if ! [ -S "$sock" ] || ! kill -0 "$apid" 2>/dev/null; then
		AGENT_NOTE="not measured: the agent did not open its socket ($(tail -n 2 "$MW_LOG" | tr '\n' ' '))"
		mw_kill "$apid"
		return
	fi
	AGENT_NOTE=
	sleep 0.5
	bn_agent_row "$apid" "idle, just started (its pin dir has the bench's 3 workloads)"
	for i in $(seq "$AGENT_PODS"); do
		ns=$(mw_ns "g$i")
		ip netns add "$ns" && MW_NETNS+=("$ns")
		ip -n "$ns" link set lo up
		t0=$(bn_now_us)
		MESHWARP_AGENT_SOCKET=$sock "${MW_TO[@]}" ip netns exec "$ns" "$MESHWARP" init \
			>/dev/null 2>&1 && AGENT_ENROL+=("$(bn_us_since "$t0")")
	done
	# the agent logs each enrolment it did ("enable for pid N: exit 0")
	bn_agent_row "$apid" "after enrolling $AGENT_PODS more workloads through it ($(grep -c 'enable for pid [0-9]*: exit 0' "$alog") enrolled by the agent)"
	n0=$(wc -l <"$log" 2>/dev/null || echo 0)
	bn_measure agent 1 connrate c "$cpus" 1 >/dev/null || true
	sleep 0.5	# the last close events
	n1=$(wc -l <"$log" 2>/dev/null || echo 0)
	bn_agent_row "$apid" "after one connrate run on path (c): $((n1 - n0)) connections logged"
	mw_in_ns agent timeout 20 curl -s "http://127.0.0.1:$mport/metrics" >"$MW_TMP/agent-metrics.txt" 2>/dev/null
	bn_agent_row "$apid" "after a /metrics scrape ($(wc -l <"$MW_TMP/agent-metrics.txt") lines)"
	kill -TERM "$apid" 2>/dev/null
	mw_kill "$apid"
	# Their workload entries go with the run's pin dir at exit (meshwarp unload); the
	# namespaces go now (a disable each costs seconds on a busy host).
	for i in $(seq "$AGENT_PODS"); do
		ip netns del "$(mw_ns "g$i")" 2>/dev/null
	done
	echo "# $(bn_el) agent memory measured"
}

NPASS=0
NFAIL=0

# bn_mode MODE CPUS THREADS ROUNDS
bn_mode() {
	local mode=$1 cpus=$2 threads=$3 rounds=$4 r w k n p
	echo "# $(bn_el) $mode: CPUs $cpus, $rounds round(s) of ${SECONDS_PER_RUN} s runs, paths ${PATHS[*]}"
	bn_start_servers "$cpus" "$threads"
	n=${#PATHS[@]}
	for r in $(seq "$rounds"); do
		for w in "${WORKLOADS[@]}"; do
			for ((k = 0; k < n; k++)); do
				p=${PATHS[$(((k + r - 1) % n))]}
				if bn_measure "$mode" "$r" "$w" "$p" "$cpus" "$threads"; then
					[ "$mode" == 1core ] && NPASS=$((NPASS + 1))
				else
					NFAIL=$((NFAIL + 1))
				fi
			done
		done
	done
	if [ "$mode" == 1core ] && [[ " ${PATHS[*]} " == *" c "* ]]; then
		bn_tracking "$cpus" "$threads" "$rounds"
		bn_agent_memory "$cpus"
	fi
	bn_stop_servers
	echo "# $(bn_el) servers stopped"
}

printf 'mode\tround\tworkload\tpath\tmetric\tvalue\n' >"$OUT_TSV"
bn_mode 1core 0 1 "$ROUNDS"
[ "$TWO_CORE" -eq 1 ] && bn_mode 2core 0,1 2 "$ROUNDS_2CORE"

# What meshwarp counted for pod mesh (c) over the whole run.
MESH_COUNTERS=$(mw_in_ns mesh "${MW_TO_STATUS[@]}" "$MESHWARP" status -j 2>/dev/null | jq -r '
	([.workloads[] | select(.current)][0].decisions.egress // {}) as $d | (.stats // {}) as $s |
	"redirect \($d.redirect), uid \($d.uid), local \($d.local); origdst_answered \($s.origdst_answered), origdst_unknown \($s.origdst_unknown), origdst_by_conntrack \($s.origdst_by_conntrack), origdst_table_full \($s.origdst_table_full), sk_storage_errors \($s.sk_storage_errors)"' 2>/dev/null)
IPT_REDIRECTS=$(mw_in_ns ipt iptables -w -t nat -L APPMESH_EGRESS -v -x -n 2>/dev/null |
	awk '/REDIRECT/ { print $1; exit }')

# ---------------------------------------------------------------------------------------------
# Report.

bn_median_list() {	# microsecond samples -> "median ms [min–max]"
	[ $# -gt 0 ] || { echo "not sampled$([ "$QUICK" -eq 1 ] && echo " in --quick")"; return; }
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f ms [%.1f–%.1f], %d sample(s)", m / 1000, v[1] / 1000, v[NR] / 1000, NR }'
}

WALL_S=$(( ($(date +%s%N) - START_NS) / 1000000000 ))
{
	echo "# meshwarp bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Command: \`$ARGS_TEXT\` ($([ "$QUICK" -eq 1 ] && echo "quick smoke run" || echo "full run")), wall time ${WALL_S} s."
	echo "Host: Linux $(uname -r), $(nproc) CPU(s) ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), load average (1, 5, 15 min) at the start $LOAD_START, at the end $(cut -d" " -f1-3 /proc/loadavg)."
	echo "meshwarp: $MW_BIN_ID; $(haproxy -v | head -n 1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2); sockperf $(sockperf --version 2>&1 | sed -n 's/.*version \([^ ]*\).*/\1/p' | head -n 1); $(iperf3 --version | head -n 1 | cut -d' ' -f1-2)."
	echo
	echo "Paths: (a) client to upstream directly, no mesh; (b) App Mesh iptables rules (nat OUTPUT REDIRECT, as the contract lists them) through the sidecar; (c) meshwarp interception through the sidecar; (d) meshwarp with the local shortcut; (p) the same sidecar dialled explicitly on 127.0.0.1, no interception. Sidecar: HAProxy in TCP mode as uid 1337, one config for every path; upstreams (nginx, sockperf server, iperf3 server) in their own namespace over a veth."
	echo "Workloads: wrk $WRK_CONNS keep-alive connections; wrk 1 connection (closed loop); mwb-connrate ($CONNRATE_CONC in flight, one HTTP request per connection, RST close); sockperf TCP ping-pong, $PP_MSG B messages, full round trip; iperf3 one stream, 128 KiB and 1 KiB writes."
	echo "Each cell: median [min–max] over the rounds; rounds interleaved, path order rotating. Ratios are of medians. ↑ higher is better, ↓ lower is better."
	echo
	awk -F'\t' -v mode=1core -v paths="${PATHS[*]}" -v dnote="$D_NOTE" \
		-v title="One core (headline): every process of a path on CPU 0, $ROUNDS round(s) × $SECONDS_PER_RUN s" \
		-f "$BENCH_DIR/report.awk" "$OUT_TSV"
	if [ "$TWO_CORE" -eq 1 ]; then
		awk -F'\t' -v mode=2core -v paths="${PATHS[*]}" -v dnote="$D_NOTE" \
			-v title="Two cores: CPUs 0-1 (HAProxy 2 threads, nginx 2 workers, wrk 2 threads), $ROUNDS_2CORE round(s) × $SECONDS_PER_RUN s" \
			-f "$BENCH_DIR/report.awk" "$OUT_TSV"
	fi
	echo "## Enrolment (wall time of \`ip netns exec POD meshwarp init\`)"
	echo
	echo "| what | median [min–max] |"
	echo "|---|---|"
	for row in "${ENROL_ROWS[@]}"; do
		# shellcheck disable=SC2086 # the samples are a space-separated list
		echo "| ${row%%	*} | $(bn_median_list ${row#*	}) |"
	done
	echo
	if [ "${#SC_ROWS[@]}" -gt 0 ]; then
		echo "## The shortcut in the (d) runs"
		echo
		echo "What \`meshwarp status -j\` shortcut events did during each (d) run (after minus before;"
		echo "pod \`short\` is the only workload with the shortcut). \`messages\`/\`bytes\` moving means the"
		echo "app↔sidecar hop was on the shortcut; \`unpaired\` counts connections whose app wrote before"
		echo "the sidecar's socket joined (TCP for good), \`left_*\` connections that left it, \`holds\`"
		echo "destinations put on hold (a connection streamed one way past the budget, or left for it),"
		echo "\`held\` connections that stayed on TCP because their destination was on hold (for"
		echo "${SC_HOLD:-?} s: \`MESHWARP_SHORTCUT_HOLD\` at init, 0 = never; docs/shortcut.md, the rule)."
		echo
		echo "| run | $(printf '%s | ' "${SC_EVENTS[@]}" | sed 's/ | $//') |"
		echo "|---|$(printf -- '---|%.0s' "${SC_EVENTS[@]}")"
		printf '%s\n' "${SC_ROWS[@]}"
		echo
	fi
	echo "## Connection tracking and metrics (on versus off)"
	echo
	if [ -n "$TRACK_NOTE" ]; then
		echo "$TRACK_NOTE"
	else
		echo "Path (c), one core, the host-wide switch (\`meshwarp tracking on|off\`) flipped between the two runs of each round, order alternating; $ROUNDS round(s). Target: tracking and metrics cost ≤ 3 % of connections/s (off/on ≤ 1.03 on conn/s)."
		echo
		bn_tracking_report
	fi
	echo
	echo "## Agent memory"
	echo
	if [ -n "$AGENT_NOTE" ]; then
		echo "$AGENT_NOTE"
	else
		echo "\`meshwarp agent\` on this run's pin dir (VmRSS and VmHWM from /proc/PID/status, MiB), started after the rounds."
		echo
		echo "| agent | RSS MiB | peak RSS MiB |"
		echo "|---|---|---|"
		printf '%s\n' "${AGENT_ROWS[@]}"
		echo
		# shellcheck disable=SC2086 # the samples are a space-separated list
		echo "Wall time of \`ip netns exec POD meshwarp init\` through the agent (a new namespace each): $(bn_median_list ${AGENT_ENROL[*]:-})."
	fi
	echo
	echo "## Checks"
	echo
	echo "- Every sidecar run was checked to have gone through the sidecar (its HAProxy session counter moved)."
	echo "- meshwarp counters for pod (c) after the run: ${MESH_COUNTERS:-unavailable (status -j failed or timed out)}."
	echo "- iptables REDIRECT packets in pod (b): ${IPT_REDIRECTS:-unavailable}."
	errs=$(awk -F'\t' 'NR > 1 && $5 == "errors" && $6 > 0 {
		printf "%s%s r%s %s (%s): %s", n++ ? "; " : "", $1, $2, $3, $4, $6 }' "$OUT_TSV")
	echo "- Client-side errors (wrk socket errors, mwb-connrate failed connections): ${errs:-none}."
	if [ "${#ERR_DETAIL[@]}" -gt 0 ]; then
		printf '  - %s\n' "${ERR_DETAIL[@]}"
	fi
	[ -n "$D_NOTE" ] && echo "- $D_NOTE (\`status -j\` shortcut field: $SHORTCUT)."
	if [ "${#FAILS[@]}" -gt 0 ]; then
		echo "- Runs without a number:"
		printf '  - %s\n' "${FAILS[@]}"
	fi
	echo
	echo "Raw samples: \`$(basename "$OUT_TSV")\`; chart: \`$(basename "$OUT_PNG")\`."
} >"$OUT_MD"

echo "# $(bn_el) report written"

# The chart: every row relative to (a) with higher = better, min–max whiskers (bench/chart.sh).
bn_chart() {
	"$BENCH_DIR/chart.sh" "$OUT_TSV" "$OUT_PNG" "${PATHS[*]}" >"$MW_TMP/gnuplot.log" 2>&1
}
if [[ " ${PATHS[*]} " != *" a "* ]]; then
	echo "# no chart: it is drawn relative to (a), which --paths left out"
elif bn_chart; then
	ln -sfn "$(basename "$OUT_PNG")" "$RESULTS/latest.png"
else
	echo "bench: gnuplot failed: $(tail -n 3 "$MW_TMP/gnuplot.log" 2>/dev/null | tr '\n' ' ')"
	NFAIL=$((NFAIL + 1))
fi
ln -sfn "$(basename "$OUT_MD")" "$RESULTS/latest.md"

# Fast teardown of what is idle now (the EXIT trap still runs, and finds these gone): the servers
# are stopped, so no namespace holds a process, and the iptables rules go with their namespace.
for ns in "${MW_NETNS[@]}"; do
	[ -e "/run/netns/$ns" ] && [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && ip netns del "$ns"
done

echo
cat "$OUT_MD"
echo
echo "bench: results in $OUT_MD, chart $OUT_PNG"
echo "bench: wall time $(( ($(date +%s%N) - START_NS) / 1000000000 )) s"
SKIPPED=0
[ -z "$D_NOTE" ] || SKIPPED=${#WORKLOADS[@]}
MW_ENDED=1
echo "bench: $NPASS passed, $NFAIL failed$([ "$SKIPPED" -gt 0 ] && echo ", $SKIPPED skipped")"
[ "$NFAIL" -eq 0 ]
