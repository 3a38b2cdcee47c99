#!/usr/bin/env bash
# The local shortcut past the first hop: the sidecar's upstream connection pairs with the
# upstream's accepted socket when the upstream is a namespace of this host enrolled with the
# shortcut (sk_msg redirect across namespaces), keeps TCP when the upstream is not, and a
# connection of another namespace with the same tuple never pairs with it (the sequence
# number guard of mw_sc_passive).
#
#   cli 10.250.45.1 ==veth== srv 10.250.45.2  curl (app) -> HAProxy (sidecar, uid 1337,
#                                              SO_ORIGINAL_DST) -> nginx in srv
#   ia  10.250.46.1 ==veth== ib  10.250.46.2  the same addresses twice: a connection
#   ic  10.250.46.1 ==veth== id  10.250.46.2  ia:40123 -> ib:9123 and ic:40123 -> id:9123
# Every transfer is compared with what was sent (sha256), and `paired` moves by exactly 2 per
# proxied connection (the app's hop and the upstream hop) when both ends have the shortcut.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin shortcut_hops
# Every connection here must pair, and many reuse a destination after one that streamed: no
# holds (test_shortcut_hold.sh tests them). Host-wide, on this test's own pins.
export MESHWARP_SHORTCUT_HOLD=0

[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
PY=/usr/bin/python3
[ -x "$PY" ] || mw_die "$PY missing"
for c in haproxy nginx curl jq sha256sum; do
	command -v "$c" >/dev/null || mw_die "$c missing: scripts/install-deps.sh installs it"
done
CLI_IP=10.250.45.1
SRV_IP=10.250.45.2
MIB=1048576
ECHO_MOD=/usr/lib/nginx/modules/ngx_http_echo_module.so

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=
export APPMESH_ENABLE_IPV6=0

for ns in cli srv ia ib ic id; do
	mw_netns "$ns"
done
mw_veth cli "$CLI_IP" srv "$SRV_IP"
mw_veth ia 10.250.46.1 ib 10.250.46.2
mw_veth ic 10.250.46.1 id 10.250.46.2

# --- srv: nginx, seen by sockops (in the test cgroup) ----------------------------------------
FILES=$MW_TMP/files
mkdir -p "$FILES/www" "$MW_TMP/srv" && chmod 0755 "$FILES" "$FILES/www" && chmod 0777 "$MW_TMP/srv"
head -c $((64 * MIB)) /dev/urandom >"$FILES/www/big.bin" || mw_die "cannot make the 64 MiB file"
head -c $((16 * MIB)) /dev/urandom >"$MW_TMP/body.bin" || mw_die "cannot make the 16 MiB body"
chmod 0644 "$FILES/www/big.bin" "$MW_TMP/body.bin"
BIG_SUM=$(sha256sum <"$FILES/www/big.bin" | cut -d' ' -f1)
BODY_SUM=$(sha256sum <"$MW_TMP/body.bin" | cut -d' ' -f1)
LOAD= ECHO_LOC=
if [ -f "$ECHO_MOD" ]; then
	LOAD="load_module $ECHO_MOD;"
	ECHO_LOC='location = /echo { echo_read_request_body; echo_request_body; }'
fi
cat >"$MW_TMP/srv/nginx.conf" <<EOF
$LOAD
daemon off;
master_process off;
worker_processes 1;
pid $MW_TMP/srv/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $MW_TMP/srv/body;
	proxy_temp_path $MW_TMP/srv/proxy;
	fastcgi_temp_path $MW_TMP/srv/fastcgi;
	uwsgi_temp_path $MW_TMP/srv/uwsgi;
	scgi_temp_path $MW_TMP/srv/scgi;
	client_max_body_size 0;
	keepalive_requests 100000;
	server {
		listen $SRV_IP:8089;
		root $FILES/www;
		client_body_buffer_size 64m;
		location = /small { default_type text/plain; return 200 "ok\n"; }
		$ECHO_LOC
	}
}
EOF
chmod 0644 "$MW_TMP/srv/nginx.conf"
mw_spawn srv nginx -e stderr -p "$MW_TMP/srv" -c "$MW_TMP/srv/nginx.conf"
mw_wait_port srv 8089 v4 || mw_die "nginx in srv did not listen"

# --- cli: HAProxy the sidecar, to the original destination ------------------------------------
MW_HAPROXY_TIMEOUT=60s MW_HAPROXY_MAXCONN=1024 mw_haproxy cli 15001
mw_wait_port cli 15001 v4 || mw_die "HAProxy did not listen"

# --- enrolment -----------------------------------------------------------------------------------
MODE=1
if [ "$(mw_in_ns cli "$MESHWARP" status -j 2>/dev/null | jq -r .shortcut.others_on_host)" == true ]; then
	echo "# other sockops/sk_msg/sockmap users on this host: using MESHWARP_SHORTCUT=force"
	MODE=force
fi
# enrol POD MODE: init in POD with MESHWARP_SHORTCUT=MODE; prints "rc shortcut".
enrol() {
	local out rc
	out=$(MESHWARP_SHORTCUT=$2 ip netns exec "$(mw_ns "$1")" "$MESHWARP" init 2>&1)
	rc=$?
	[ "$rc" == 0 ] || mw__log "init in $1: $out"
	if [ "$2" == 1 ] &&
	   [ "$(mw_in_ns "$1" "$MESHWARP" status -j | jq -r .shortcut.others_on_host)" == true ]; then
		MODE=force	# someone else's sockmap user appeared meanwhile
		MESHWARP_SHORTCUT=force ip netns exec "$(mw_ns "$1")" "$MESHWARP" init >/dev/null 2>&1
	fi
	echo "$rc $(mw_in_ns "$1" "$MESHWARP" status -j | jq -r '.workloads[] | select(.current) | .shortcut')"
}
for pod in cli srv ia id; do
	out=$(enrol "$pod" "$MODE")
	mw_expect_eq "$pod: init with the shortcut" "0 true" "$out" || mw_die "no shortcut in $pod"
done

ev() { mw_in_ns cli "$MESHWARP" status -j | jq -r ".shortcut.events.$1"; }
get() { mw_in_pod cli curl -sS --max-time 60 "$@"; }

# --- both ends with the shortcut: each proxied connection pairs twice ---------------------------
p0=$(ev paired) b0=$(ev bytes) n0=$(ev no_peer)
for i in 1 2 3; do
	mw_expect_eq "64 MiB from an upstream with the shortcut #$i: sha256" "$BIG_SUM" \
		"$(get "http://$SRV_IP:8089/big.bin" | sha256sum | cut -d' ' -f1)"
done
if [ -n "$ECHO_LOC" ]; then
	mw_expect_eq "16 MiB up and back through both hops: sha256" "$BODY_SUM" \
		"$(get --data-binary "@$MW_TMP/body.bin" "http://$SRV_IP:8089/echo" |
			sha256sum | cut -d' ' -f1)"
	n=4
else
	echo "# $ECHO_MOD missing: no upload echo"
	n=3
fi
mw_expect_eq "  paired: 2 per proxied connection ($n connections), none without a peer" \
	"$((2 * n)) 0" "$(($(ev paired) - p0)) $(($(ev no_peer) - n0))"
mw_expect_match "  the shortcut carried bytes" '^[1-9][0-9]*$' $(($(ev bytes) - b0))
# While a download runs, `conns` shows both legs' shortcut bytes (found by socket cookie: the
# upstream leg's entry has no netns in its key).
mw_in_pod cli curl -sS --max-time 60 --limit-rate 200k -o /dev/null "http://$SRV_IP:8089/big.bin" &
SLOW=$!
mw_register_pid "$SLOW"
legs=
for i in $(seq 100); do
	legs=$(mw_in_ns cli "$MESHWARP" conns -j | jq -r --arg d "$SRV_IP:8089" \
		'[.[] | select(.destination == $d and .shortcut_received_bytes > 0 and
			.shortcut_sent_bytes > 0) | .role] | sort | join(",")')
	[ "$legs" == redirected,sidecar ] && break
	sleep 0.1
done
mw_expect_eq "conns, a download in progress: both legs with shortcut bytes each way" \
	redirected,sidecar "$legs"
kill "$SLOW" 2>/dev/null
wait "$SLOW" 2>/dev/null
# Small requests stay within the budget: every byte of both hops is handed over, and HAProxy
# (mode tcp) forwards exactly what it reads, so the shortcut's bytes are twice what curl sent
# and received.
b0=$(ev bytes) p0=$(ev paired) wire=0
for i in $(seq 10); do
	sz=$(get -o "$MW_TMP/small.out" -w '%{size_request} %{size_header} %{size_download}' \
		"http://$SRV_IP:8089/small" 2>&1)
	[ "$(cat "$MW_TMP/small.out")" == ok ] || break
	read -r a b c <<<"$sz"
	wire=$((wire + a + b + c))
done
mw_expect_eq "10 small requests, each answered" ok "$(cat "$MW_TMP/small.out")"
mw_expect_eq "  paired 20, the shortcut carried both hops' bytes, exactly" "20 $((2 * wire))" \
	"$(($(ev paired) - p0)) $(($(ev bytes) - b0))"
pids=()
for i in $(seq 6); do
	get "http://$SRV_IP:8089/big.bin" -o "$MW_TMP/par-$i.bin" &
	pids+=($!)
done
wait "${pids[@]}"
ok=0
for i in $(seq 6); do
	[ "$(sha256sum <"$MW_TMP/par-$i.bin" | cut -d' ' -f1)" == "$BIG_SUM" ] && ok=$((ok + 1))
	rm -f "$MW_TMP/par-$i.bin"
done
mw_expect_eq "6 downloads of 64 MiB at once through both hops, all intact" 6 "$ok"

# --- the upstream without the shortcut: its hop keeps TCP -----------------------------------------
# The sidecar's socket does not even join: srv's address belongs to a workload without the
# shortcut (mw_scl_v1), so it is counted not_local at once, not no_peer at its first write.
mw_expect_eq "srv: re-init with MESHWARP_SHORTCUT=0" "0 false" "$(enrol srv 0)"
p0=$(ev paired) n0=$(ev no_peer) l0=$(ev not_local)
for i in 1 2 3; do
	mw_expect_eq "64 MiB from an upstream without the shortcut #$i: sha256" "$BIG_SUM" \
		"$(get "http://$SRV_IP:8089/big.bin" | sha256sum | cut -d' ' -f1)"
done
mw_expect_eq "  paired: the first hop only (3); the upstream hop never joined (not_local 3, no_peer 0)" \
	"3 3 0" "$(($(ev paired) - p0)) $(($(ev not_local) - l0)) $(($(ev no_peer) - n0))"

# --- the same tuple in two namespace pairs: never the wrong peer -----------------------------------
# ia's socket (the sidecar's uid: it joins, under a key without its netns) connects to ib, whose
# server sockops never sees, so it stays unpaired. Then ic (not enrolled, unseen) connects to id
# (enrolled, seen) from the same address and port to the same address and port: id's accepted
# socket finds ia's socket under the reversed tuple, and must not pair with it (else ia's bytes
# would land in id's server).
mkdir -p "$MW_TMP/dup" && chmod 0777 "$MW_TMP/dup"
cat >"$MW_TMP/dup/srv.py" <<'EOF'
import socket, sys
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(1)
print("listening", flush=True)
c, _ = ls.accept()
data = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    data += d
open(sys.argv[3], "wb").write(data)
c.sendall(b"got:" + data)
c.close()
EOF
cat >"$MW_TMP/dup/cli.py" <<'EOF'
import os, socket, sys, time
src, sport, dst, dport, msg, ready, go = sys.argv[1:8]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, int(sport)))
s.connect((dst, int(dport)))
open(ready, "w").close()
end = time.time() + 20
while not os.path.exists(go) and time.time() < end:
    time.sleep(0.05)
s.sendall(msg.encode())
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.decode(), flush=True)
EOF
chmod 0644 "$MW_TMP/dup/srv.py" "$MW_TMP/dup/cli.py"
D=$MW_TMP/dup
mw_spawn ib --no-cg "$PY" "$D/srv.py" 10.250.46.2 9123 "$D/out-b"
mw_spawn id "$PY" "$D/srv.py" 10.250.46.2 9123 "$D/out-d"
mw_wait_port ib 9123 v4 && mw_wait_port id 9123 v4 || mw_die "the dup servers did not listen"
p0=$(ev paired) m0=$(ev seq_mismatch)
mw_spawn ia --uid 1337:1337 "$PY" "$D/cli.py" 10.250.46.1 40123 10.250.46.2 9123 from-ia \
	"$D/ready-a" "$D/go"
LOG_A=$MW_LOG PID_A=$MW_PID
for _ in $(seq 100); do [ -e "$D/ready-a" ] && break; sleep 0.1; done
mw_spawn ic --no-cg "$PY" "$D/cli.py" 10.250.46.1 40123 10.250.46.2 9123 from-ic \
	"$D/ready-c" "$D/go"
LOG_C=$MW_LOG PID_C=$MW_PID
for _ in $(seq 100); do [ -e "$D/ready-c" ] && break; sleep 0.1; done
mw_expect_eq "two connections, same tuple, two namespace pairs: both up" "yes yes" \
	"$([ -e "$D/ready-a" ] && echo yes || echo no) $([ -e "$D/ready-c" ] && echo yes || echo no)"
mw_expect_eq "  id's socket found ia's joined socket and refused it (sequence numbers)" 1 \
	$(($(ev seq_mismatch) - m0))
touch "$D/go"
wait "$PID_A" "$PID_C" 2>/dev/null
for _ in $(seq 50); do [ -s "$LOG_A" ] && [ -s "$LOG_C" ] && break; sleep 0.1; done
mw_expect_eq "  each server got its own client's bytes" "from-ia from-ic" \
	"$(cat "$D/out-b" 2>/dev/null) $(cat "$D/out-d" 2>/dev/null)"
mw_expect_eq "  each client got its own server's answer" "got:from-ia got:from-ic" \
	"$(cat "$LOG_A") $(cat "$LOG_C")"
mw_expect_eq "  nothing paired" 0 $(($(ev paired) - p0))

mw_test_end
