#!/usr/bin/env bash
# Routing tables from the node agent's two sources, checked by behaviour (the errno a
# connection from the pod gets, or the sidecar's answer) and by the agent's metrics:
#   (a) --routes-file: a file written in place is applied; replaced with mv from the same
#       directory (a temp file first, as editors do) and from another one, it is applied, and
#       the temp file alone applies nothing; meshwarp_routes_applies_total counts each apply
#       exactly, meshwarp_routes_last_apply_timestamp_seconds moves
#   (b) an invalid file (syntax, semantics) keeps the table in force (behaviour, generation,
#       version) and moves meshwarp_routes_errors_total by one each; a good file afterwards
#       is applied; init run again (through the agent) keeps the table; an agent started
#       with the file there applies it at once
#   (c) the control plane: nginx with mutual TLS (ssl_verify_client on) serving the table; the
#       agent with --cp-url/--cp-ca/--cp-cert/--cp-key/--cp-san and --cp-interval 1 applies
#       it; polls of an unchanged table (304) apply nothing; replacing the served file changes
#       the table within a few polls (waited for, 15 s at most)
#   (d) an invalid document served keeps the old table and moves
#       meshwarp_control_plane_errors_total and meshwarp_routes_errors_total; a good one
#       afterwards is applied
#   (e) an agent with a wrong --cp-san keeps the old table (several failed polls) and moves
#       meshwarp_control_plane_errors_total only
#   (f) --routes-file in a Kubernetes ConfigMap volume: the file is a symlink through "..data",
#       and the kubelet updates it by renaming a new "..data" symlink into place (its atomic
#       writer); the agent applies the file at start, and must apply the update
#   (g) the CLI through the agent's socket: `routes apply` and `rollback` are applied and counted
#       by the agent, its messages and exit code reach the CLI; meshwarp_routes_generation and
#       meshwarp_routes_table_info follow the table in force whoever applied it
#
#   pod 10.250.41.1 ==veth== up 10.250.41.2     mwt-sidecar (uid 1337) in pod on 15001
#   node: the agents and nginx (127.0.0.1:8443), outside the test cgroup; its loopback is ours
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin routes_agent

mw_require mwt-sidecar mwt-connect -- nginx openssl curl jq
CONNECT=$MW_TOOLS/mwt-connect

POD_IP=10.250.41.1
UP_IP=10.250.41.2
DEST=10.98.1.5   # the probe: each table rejects 10.98.1.0/24 with its own errno

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENABLE_IPV6=0
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT APPMESH_EGRESS_IGNORED_IP
unset APPMESH_EGRESS_IGNORED_PORTS
unset MESHWARP_CP_URL MESHWARP_CP_CA MESHWARP_CP_CERT MESHWARP_CP_KEY MESHWARP_CP_SAN
unset MESHWARP_ROUTES_FILE MESHWARP_METRICS_ADDR MESHWARP_STATSD_ADDR MESHWARP_CONN_LOG
export MESHWARP_WORKLOAD=web
export MESHWARP_STATE_DIR=$MW_TMP/state
SOCK=$MW_TMP/agent/enrol.sock
export MESHWARP_AGENT_SOCKET=$SOCK

mw_netns pod
mw_netns up
mw_netns node
mw_veth pod "$POD_IP" up "$UP_IP"
mw_spawn pod --uid 1337:1337 "$MW_TOOLS/mwt-sidecar" -d -p 15001
mw_wait_log "$MW_LOG" '^ready$' || mw_die "mwt-sidecar did not start"

# --- helpers -------------------------------------------------------------------------------------
SIDECAR="SIDECAR orig=$DEST:80 orig6=[::ffff:$DEST]:80"
MPORT=9100
AGENT=
AGENT_LOG=

# start_agent ARGS...: an agent in node (outside the test cgroup), on a metrics port of its own;
# ready once it serves metrics. Sets AGENT, AGENT_LOG, MPORT.
start_agent() {
	MPORT=$((MPORT + 1))
	mw_spawn node --no-cg "$MESHWARP" agent --socket "$SOCK" --metrics-addr "127.0.0.1:$MPORT" "$@"
	AGENT=$MW_PID
	AGENT_LOG=$MW_LOG
	if ! mw_wait_log "$AGENT_LOG" 'enrolment socket' 100 || ! mw_wait_port node "$MPORT" v4; then
		mw_die "the agent did not start: $(cat "$AGENT_LOG")"
	fi
}
stop_agent() {
	mw_kill "$AGENT"
}
scrape() {
	mw_in_ns node curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics"
}
# metric NAME: its value in a scrape of the running agent, "absent" if none.
metric() {
	scrape | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "absent" }'
}
applies() { metric meshwarp_routes_applies_total; }
rerrors() { metric meshwarp_routes_errors_total; }
cperrors() { metric meshwarp_control_plane_errors_total; }
counters() { echo "applies=$(applies) errors=$(rerrors) cp_errors=$(cperrors)"; }
probe() { mw_in_pod pod "$CONNECT" "$DEST" 80; }
gen() {
	timeout 20 "$MESHWARP" status -j | jq -r --argjson ns "$POD_NS" \
		'first(.workloads[] | select(.netns == $ns)) | .generation'
}
version() { timeout 20 "$MESHWARP" status -j | jq -r '.routes.version // "none"'; }

# until_eq TENTHS EXPECTED CMD...: run CMD every 0.1 s until it prints EXPECTED, TENTHS times at
# most; prints its last output.
until_eq() {
	local n=$1 exp=$2 out i
	shift 2
	for i in $(seq "$n"); do
		out=$("$@")
		[ "$out" == "$exp" ] && break
		sleep 0.1
	done
	printf '%s' "$out"
}
# until_ge TENTHS MIN CMD...: the same, until CMD prints a number >= MIN.
until_ge() {
	local n=$1 min=$2 out i
	shift 2
	for i in $(seq "$n"); do
		out=$("$@")
		[[ $out =~ ^[0-9]+$ ]] && [ "$out" -ge "$min" ] && break
		sleep 0.1
	done
	printf '%s' "$out"
}

# table VERSION ERRNO: a routing table that rejects 10.98.1.0/24 with ERRNO for web.
table() {
	cat <<EOF
{ "version": "$1",
  "workloads": [ { "workload": "web", "rules": [
    { "match": { "destination": "10.98.1.0/24" }, "action": { "reject": "$2" } } ] } ] }
EOF
}
BAD_SYNTAX='{ "version": "broken",
  "workloads": [ { "workload": "web" "rules": [] } ] }'
BAD_SEMANTIC='{ "version": "bad-errno", "workloads": [ { "workload": "web", "rules": [
    { "match": { "destination": "10.98.1.0/24" }, "action": { "reject": "EIO" } } ] } ] }'

# --- (a) --routes-file ---------------------------------------------------------------------------
RDIR=$MW_TMP/routes
STAGE=$MW_TMP/staging
mkdir -p "$RDIR" "$STAGE"
FILE=$RDIR/table.json

start_agent --routes-file "$FILE"
out=$(timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init through the agent: exit 0" 0 $? || mw_die "init failed: $out"
mw_expect_eq "init: the agent did it" 1 "$(grep -c 'enable for pid [0-9]*: exit 0' "$AGENT_LOG")"
POD_NS=$(mw_in_ns pod "$MESHWARP" status -j | jq -r .current_netns)
[[ $POD_NS =~ ^[0-9]+$ ]] || mw_die "status -j in pod gave no current_netns: $POD_NS"
mw_expect_eq "(a) no file yet: to the sidecar, nothing applied" \
	"$SIDECAR applies=0 errors=0 cp_errors=0 0" \
	"$(probe) $(counters) $(metric meshwarp_routes_last_apply_timestamp_seconds)"

t0=$(date +%s)
table file-1 ECONNREFUSED >"$FILE"
mw_expect_eq "(a) file written in place: applied (behaviour)" "ERR ECONNREFUSED" \
	"$(until_eq 100 "ERR ECONNREFUSED" probe)"
mw_expect_eq "(a) file written in place: counted once" "applies=1 errors=0 cp_errors=0" \
	"$(until_eq 50 "applies=1 errors=0 cp_errors=0" counters)"
ts=$(metric meshwarp_routes_last_apply_timestamp_seconds)
if [[ $ts =~ ^[0-9]+$ ]] && [ "$ts" -ge "$t0" ] && [ "$ts" -le "$(date +%s)" ]; then
	mw_pass "(a) last apply timestamp: now ($ts)"
else
	mw_fail "(a) last apply timestamp: now" "$ts, not in $t0..$(date +%s)"
fi
mw_expect_eq "(a) status: the file's version" file-1 "$(version)"
g1=$(gen)

# An editor's save: a temp file in the same directory, then a rename over the file.
table file-2 EHOSTUNREACH >"$RDIR/.table.json.swp"
mv "$RDIR/.table.json.swp" "$FILE"
mw_expect_eq "(a) replaced with mv (same directory): applied" "ERR EHOSTUNREACH" \
	"$(until_eq 100 "ERR EHOSTUNREACH" probe)"
# Had the temp file's own write applied anything, this would be 3.
mw_expect_eq "(a) replaced with mv: counted once, the temp file applied nothing" \
	"applies=2 errors=0 cp_errors=0" "$(until_eq 50 "applies=2 errors=0 cp_errors=0" counters)"

table file-3 ENETUNREACH >"$STAGE/table.json"
mv "$STAGE/table.json" "$FILE"
mw_expect_eq "(a) replaced with mv (from another directory): applied" "ERR ENETUNREACH" \
	"$(until_eq 100 "ERR ENETUNREACH" probe)"
mw_expect_eq "(a) from another directory: counted once" "applies=3 errors=0 cp_errors=0" \
	"$(until_eq 50 "applies=3 errors=0 cp_errors=0" counters)"
mw_expect_eq "(a) one generation per apply, status: the file's version" "$((g1 + 2)) file-3" \
	"$(gen) $(version)"

# Another file in the directory is none of the agent's business.
table other EACCES >"$RDIR/other.json"

# --- (b) invalid files ---------------------------------------------------------------------------
g=$(gen)
printf '%s\n' "$BAD_SYNTAX" >"$STAGE/table.json"
mv "$STAGE/table.json" "$FILE"
mw_expect_eq "(b) syntax error: refused, counted" "applies=3 errors=1 cp_errors=0" \
	"$(until_eq 100 "applies=3 errors=1 cp_errors=0" counters)"
mw_expect_eq "(b) syntax error: the table in force stays (behaviour, generation, version)" \
	"ERR ENETUNREACH $g file-3" "$(probe) $(gen) $(version)"
mw_expect_match "(b) syntax error: the agent says where" \
	"table\.json: line 2, column 38: object value separator ',' expected" \
	"$(cat "$AGENT_LOG")"

printf '%s\n' "$BAD_SEMANTIC" >"$FILE"
mw_expect_eq "(b) semantic error (written in place): refused, counted" \
	"applies=3 errors=2 cp_errors=0" "$(until_eq 100 "applies=3 errors=2 cp_errors=0" counters)"
mw_expect_eq "(b) semantic error: the table in force stays" "ERR ENETUNREACH $g file-3" \
	"$(probe) $(gen) $(version)"
mw_expect_match "(b) semantic error: the agent names the field" \
	'workloads\[0\]\.rules\[0\]\.action\.reject: "EIO" is not one of' "$(cat "$AGENT_LOG")"

table file-4 EACCES >"$FILE"
mw_expect_eq "(b) a good file again: applied" "ERR EACCES" "$(until_eq 100 "ERR EACCES" probe)"
mw_expect_eq "(b) a good file again: counted" "applies=4 errors=2 cp_errors=0" \
	"$(until_eq 50 "applies=4 errors=2 cp_errors=0" counters)"
g=$(gen)
out=$(timeout 30 ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "(b) init again through the agent: exit 0, a new generation, the table kept" \
	"0 $((g + 1)) ERR EACCES file-4 2" \
	"$? $(gen) $(probe) $(version) $(grep -c 'enable for pid [0-9]*: exit 0' "$AGENT_LOG")"

# A new agent applies the file that is there when it starts.
stop_agent
g=$(gen)
mw_expect_eq "(b) the agent stopped: the table stays" "ERR EACCES" "$(probe)"
start_agent --routes-file "$FILE"
mw_expect_eq "(b) a new agent applied the file at start" "applies=1 errors=0 cp_errors=0 $((g + 1))" \
	"$(until_eq 100 "applies=1 errors=0 cp_errors=0" counters) $(gen)"
mw_expect_eq "(b) ... same behaviour" "ERR EACCES file-4" "$(probe) $(version)"
stop_agent

# --- (c) the control plane -----------------------------------------------------------------------
SAN=cp.mesh.local
PKI=$MW_TMP/pki
WWW=$MW_TMP/www
mkdir -p "$PKI" "$WWW"
ossl() {
	"$@" >>"$PKI/openssl.log" 2>&1 || { mw__log "failed: $*"; tail -n 5 "$PKI/openssl.log" >&2; return 1; }
}
pki_key() {
	ossl openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"
}
pki_ca() {
	pki_key "$1" &&
		ossl openssl req -x509 -new -key "$PKI/$1.key" -out "$PKI/$1.pem" -days 3650 \
			-subj "/CN=meshwarp test $1" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
}
# pki_leaf NAME CA EKU SAN
pki_leaf() {
	pki_key "$1" || return 1
	ossl openssl req -new -key "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$1" || return 1
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$3" "$4" >"$PKI/$1.ext"
	ossl openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 30 \
		-extfile "$PKI/$1.ext" -out "$PKI/$1.pem"
}
pki_ca ca || mw_die "CA failed"
pki_leaf server ca serverAuth "DNS:$SAN,IP:127.0.0.1" || mw_die "server certificate failed"
pki_leaf client ca clientAuth "DNS:node-1.mesh.local" || mw_die "client certificate failed"
chmod 0644 "$PKI"/*.key

# serve VERSION ERRNO | serve --raw TEXT: the control plane's table, replaced atomically (mv),
# with an mtime of its own so that nginx's ETag ("mtime-size") changes.
SERVE_N=0
serve() {
	SERVE_N=$((SERVE_N + 1))
	if [ "$1" == --raw ]; then
		printf '%s\n' "$2" >"$WWW/.routes.new"
	else
		table "$1" "$2" >"$WWW/.routes.new"
	fi
	chmod 0644 "$WWW/.routes.new"
	touch -d "@$((1700000000 + SERVE_N * 1000))" "$WWW/.routes.new"
	mv "$WWW/.routes.new" "$WWW/routes"
}
serve cp-1 EPERM
chmod 0755 "$WWW"

NGX=$MW_TMP/nginx-cp
mkdir -p "$NGX"
cat >"$NGX/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NGX/nginx.pid;
error_log stderr info;
events { worker_connections 64; }
http {
	access_log $NGX/access.log;
	client_body_temp_path $NGX/body;
	proxy_temp_path $NGX/proxy;
	fastcgi_temp_path $NGX/fastcgi;
	uwsgi_temp_path $NGX/uwsgi;
	scgi_temp_path $NGX/scgi;
	default_type application/json;
	root $WWW;
	ssl_client_certificate $PKI/ca.pem;
	ssl_verify_client on;
	server {
		listen 127.0.0.1:8443 ssl;
		ssl_certificate $PKI/server.pem;
		ssl_certificate_key $PKI/server.key;
	}
}
EOF
mw_spawn node --no-cg nginx -e stderr -p "$NGX" -c "$NGX/nginx.conf"
mw_wait_port node 8443 v4 || mw_die "nginx did not listen on 8443"
ACCESS=$NGX/access.log
requests() { grep -c ' /routes ' "$ACCESS" 2>/dev/null || echo 0; }

URL=https://127.0.0.1:8443/routes
CP=(--cp-url "$URL" --cp-ca "$PKI/ca.pem" --cp-cert "$PKI/client.pem" --cp-key "$PKI/client.key"
	--cp-interval 1)
# The fixture: the client certificate gets the table, none gets 400.
mw_expect_eq "fixture: nginx serves the table to our client certificate, not without one" "200 400" \
	"$(mw_in_ns node curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" \
		--cert "$PKI/client.pem" --key "$PKI/client.key" "$URL") $(mw_in_ns node curl -s \
		-o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" "$URL")"

g=$(gen)
start_agent "${CP[@]}" --cp-san "$SAN"
mw_expect_eq "(c) the served table is applied" "ERR EPERM" "$(until_eq 150 "ERR EPERM" probe)"
mw_expect_eq "(c) counted once, no errors" "applies=1 errors=0 cp_errors=0" \
	"$(until_eq 50 "applies=1 errors=0 cp_errors=0" counters)"
mw_expect_eq "(c) one new generation, status: the served version" "$((g + 1)) cp-1" \
	"$(gen) $(version)"
# Polls of the same table: 304, nothing applied.
r0=$(requests)
until_ge 100 $((r0 + 3)) requests >/dev/null
mw_expect_eq "(c) three more polls of the unchanged table: nothing applied" \
	"applies=1 errors=0 cp_errors=0 $((g + 1))" "$(counters) $(gen)"
mw_expect_match "(c) ... nginx answered 304" '" 304 ' "$(tail -n 2 "$ACCESS")"

serve cp-2 ETIMEDOUT
mw_expect_eq "(c) the served file replaced: the new table within 15 s" "ERR ETIMEDOUT" \
	"$(until_eq 150 "ERR ETIMEDOUT" probe)"
mw_expect_eq "(c) counted once" "applies=2 errors=0 cp_errors=0" \
	"$(until_eq 50 "applies=2 errors=0 cp_errors=0" counters)"
mw_expect_eq "(c) status: the served version" cp-2 "$(version)"

# --- (d) an invalid document served --------------------------------------------------------------
g=$(gen)
serve --raw "$BAD_SYNTAX"
n=$(until_ge 150 1 rerrors)
mw_expect_match "(d) invalid document: meshwarp_routes_errors_total moved" '^[1-9][0-9]*$' "$n"
n=$(until_ge 150 1 cperrors)
mw_expect_match "(d) invalid document: meshwarp_control_plane_errors_total moved" '^[1-9][0-9]*$' "$n"
mw_expect_eq "(d) invalid document: the table in force stays (behaviour, generation, version)" \
	"ERR ETIMEDOUT $g cp-2 applies=2" "$(probe) $(gen) $(version) applies=$(applies)"
mw_expect_match "(d) the agent says why and that the table stays" \
	"line 2, column 38: object value separator ',' expected" "$(cat "$AGENT_LOG")"
mw_expect_match "(d) ... and that the table in force stays" "the routing table in force stays" \
	"$(cat "$AGENT_LOG")"

serve cp-3 ECONNREFUSED
mw_expect_eq "(d) a good document again: applied within 15 s" "ERR ECONNREFUSED" \
	"$(until_eq 150 "ERR ECONNREFUSED" probe)"
mw_expect_eq "(d) a good document again: counted" "applies=3" "applies=$(until_eq 50 3 applies)"
stop_agent

# --- (e) a wrong SAN -----------------------------------------------------------------------------
serve cp-4 EHOSTUNREACH
g=$(gen)
start_agent "${CP[@]}" --cp-san wrong.mesh.local
n=$(until_ge 150 3 cperrors)
mw_expect_match "(e) wrong SAN: meshwarp_control_plane_errors_total moved (3 failed polls)" \
	'^([3-9]|[1-9][0-9]+)$' "$n"
mw_expect_eq "(e) wrong SAN: nothing applied, no table refused; the old table stays" \
	"applies=0 errors=0 ERR ECONNREFUSED $g cp-3" \
	"applies=$(applies) errors=$(rerrors) $(probe) $(gen) $(version)"
mw_expect_match "(e) wrong SAN: the agent says why" "hostname mismatch \\(want SAN wrong\\.mesh\\.local\\)" \
	"$(cat "$AGENT_LOG")"
stop_agent

# The same agent with the right SAN takes the served table: the wrong SAN was the only obstacle.
start_agent "${CP[@]}" --cp-san "$SAN"
mw_expect_eq "(e) right SAN again: the served table within 15 s" "ERR EHOSTUNREACH" \
	"$(until_eq 150 "ERR EHOSTUNREACH" probe)"
stop_agent

# --- (f) a ConfigMap volume ----------------------------------------------------------------------
# What the kubelet's atomic writer leaves: <dir>/..<timestamp>/table.json, <dir>/..data -> that
# directory, <dir>/table.json -> ..data/table.json. An update writes a new timestamped
# directory, points a new symlink ..data_tmp at it, renames that over ..data, removes the old.
KDIR=$MW_TMP/configmap
mkdir -p "$KDIR/..2026_11_26_00_00_01.000000001"
table cm-1 EPERM >"$KDIR/..2026_11_26_00_00_01.000000001/table.json"
ln -s ..2026_11_26_00_00_01.000000001 "$KDIR/..data"
ln -s ..data/table.json "$KDIR/table.json"
start_agent --routes-file "$KDIR/table.json"
mw_expect_eq "(f) ConfigMap volume: applied at start" "ERR EPERM applies=1" \
	"$(until_eq 100 "ERR EPERM" probe) applies=$(until_eq 50 1 applies)"
mkdir "$KDIR/..2026_11_26_00_01_02.000000002"
table cm-2 EACCES >"$KDIR/..2026_11_26_00_01_02.000000002/table.json"
ln -s ..2026_11_26_00_01_02.000000002 "$KDIR/..data_tmp"
mv -T "$KDIR/..data_tmp" "$KDIR/..data"
rm -rf "$KDIR/..2026_11_26_00_00_01.000000001"
mw_expect_eq "(f) ConfigMap volume: the file's new content (cat)" "$(table cm-2 EACCES)" \
	"$(cat "$KDIR/table.json")"
mw_expect_eq "(f) ConfigMap volume updated by the kubelet's rename: applied (10 s at most)" \
	"ERR EACCES applies=2" "$(until_eq 100 "ERR EACCES" probe) applies=$(applies)"
stop_agent

# --- (g) the CLI through the agent's socket ------------------------------------------------------
# With an agent serving the pin directory, `routes apply` and `rollback` hand the table to it: it
# applies and counts it, and the CLI prints its messages and exits with its code. Whoever
# applied, /metrics shows the generation in force and the table's version.
wlgen() { metric "meshwarp_routes_generation{source_workload=\"web\"}"; }
tinfo() { metric "meshwarp_routes_table_info{version=\"$1\"}"; }
start_agent
table cli-1 ENETUNREACH >"$STAGE/cli-1.json"
out=$(timeout 30 "$MESHWARP" routes apply "$STAGE/cli-1.json" 2>&1)
mw_expect_eq "(g) routes apply, agent running: exit 0, applied" "0 ERR ENETUNREACH" "$? $(probe)"
mw_expect_eq "(g) the agent did it and counted it" "1 applies=1 errors=0 cp_errors=0" \
	"$(grep -c "routes apply from pid [0-9]* ($STAGE/cli-1.json): exit 0" "$AGENT_LOG") $(counters)"
mw_expect_match "(g) the agent's message reaches the CLI" "routing table cli-1 applied" "$out"
mw_expect_eq "(g) metrics: the generation in force, the version" "$(gen) 1" "$(wlgen) $(tinfo cli-1)"
ts=$(metric meshwarp_routes_table_applied_timestamp_seconds)
mw_expect_eq "(g) metrics: the table's apply time is status's" \
	"$(timeout 20 "$MESHWARP" status -j | jq -r .routes.applied_at)" "$ts"
g=$(gen)
printf '%s\n' "$BAD_SYNTAX" >"$STAGE/bad.json"
out=$(timeout 30 "$MESHWARP" routes apply "$STAGE/bad.json" 2>&1)
rc=$?
mw_expect_eq "(g) a bad table through the agent: exit 1, counted, the table in force stays" \
	"1 applies=1 errors=1 cp_errors=0 ERR ENETUNREACH $g" "$rc $(counters) $(probe) $(gen)"
mw_expect_match "(g) the CLI prints the agent's error with line and column" "bad.json: line 2, column [0-9]+: " "$out"
table cli-2 ECONNREFUSED >"$STAGE/cli-2.json"
timeout 30 "$MESHWARP" routes apply "$STAGE/cli-2.json" >/dev/null 2>&1
out=$(timeout 30 "$MESHWARP" routes rollback 2>&1)
mw_expect_eq "(g) rollback through the agent: back to cli-1, counted" \
	"$? ERR ENETUNREACH applies=3 errors=1 cp_errors=0 1" "$(echo $?) $(probe) $(counters) $(tinfo cli-1)"
# MESHWARP_STANDALONE: the CLI applies itself; the agent counts nothing but still shows the
# kernel's generation and the state directory's version.
table cli-3 ETIMEDOUT >"$STAGE/cli-3.json"
out=$(MESHWARP_STANDALONE=1 timeout 30 "$MESHWARP" routes apply "$STAGE/cli-3.json" 2>&1)
mw_expect_eq "(g) standalone apply: exit 0, applied, not counted by the agent" \
	"0 ERR ETIMEDOUT applies=3" "$? $(probe) applies=$(applies)"
mw_expect_eq "(g) ... but its generation and version are in the metrics" "$(gen) 1 absent" \
	"$(wlgen) $(tinfo cli-3) $(tinfo cli-1)"
stop_agent

mw_test_end
