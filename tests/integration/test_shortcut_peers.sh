#!/usr/bin/env bash
# The local shortcut between real peers: nginx and HAProxy as the two ends of the hop.
#
#   pod "app": nginx is the application, a reverse proxy whose upstream connections are
#       intercepted and go through HAProxy (the sidecar, uid 1337, SO_ORIGINAL_DST): the pair on
#       the shortcut is nginx's upstream socket and HAProxy's accepted socket. Clients in "up"
#       call nginx on the pod's address.
#   pod "ngx": nginx is the sidecar (uid 1337, a fixed upstream, no SO_ORIGINAL_DST), curl the
#       application: the pair is curl's socket and nginx's accepted socket. nginx reads requests
#       with a 1 KiB header buffer and sizes its reads with FIONREAD (Cilium #19304 is this
#       case: a FIONREAD that misses queued bytes stalls it).
#   up: nginx with a 64 MiB random file and, when the echo module is installed, /echo that
#       returns the request body.
# Bytes arrive intact (sha256), nothing stalls (every curl is bounded), and the shortcut carried
# bytes (its counters moved).
#
# In "ngx" the same also over IPv6 and to a v4-mapped destination.
#
#   app 10.250.43.1 ==veth== up 10.250.43.2
#   ngx 10.250.44.1, fd00:250:44::1 ==veth== up 10.250.44.2, fd00:250:44::2
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin shortcut_peers
# Every connection here must pair, and many reuse a destination after one that streamed: no
# holds (test_shortcut_hold.sh tests them). Host-wide, on this test's own pins.
export MESHWARP_SHORTCUT_HOLD=0

[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
for c in haproxy nginx curl jq sha256sum wrk; do
	command -v "$c" >/dev/null || mw_die "$c missing: scripts/install-deps.sh installs it"
done
APP_IP=10.250.43.1
NGX_IP=10.250.44.1
UP_IP=10.250.43.2
UP2_IP=10.250.44.2
MIB=1048576
ECHO_MOD=/usr/lib/nginx/modules/ngx_http_echo_module.so

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID APPMESH_APP_PORTS APPMESH_ENVOY_INGRESS_PORT
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=
export APPMESH_ENABLE_IPV6=0

mw_netns app
mw_netns ngx
mw_netns up
mw_veth app "$APP_IP" up "$UP_IP"
mw_veth ngx "$NGX_IP" up "$UP2_IP" fd00:250:44::1 fd00:250:44::2
mw_in_ns ngx ip route add "$UP_IP/32" via "$UP2_IP" || mw_die "route in ngx failed"

# nginx_conf DIR [LOAD-LINE] SERVER-BLOCK: a one-process nginx whose files live in DIR.
nginx_conf() {
	local dir=$1 load=$2 server=$3
	mkdir -p "$dir" && chmod 0777 "$dir"
	cat >"$dir/nginx.conf" <<EOF
$load
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	client_max_body_size 0;
	keepalive_requests 100000;
	$server
}
EOF
	chmod 0644 "$dir/nginx.conf"
}

# --- up: the file server (and echo) -------------------------------------------------------------
FILES=$MW_TMP/files
mkdir -p "$FILES/www" && chmod 0755 "$FILES" "$FILES/www"
head -c $((64 * MIB)) /dev/urandom >"$FILES/www/big.bin" || mw_die "cannot make the 64 MiB file"
chmod 0644 "$FILES/www/big.bin"
BIG_SUM=$(sha256sum <"$FILES/www/big.bin" | cut -d' ' -f1)
head -c $((16 * MIB)) /dev/urandom >"$MW_TMP/body.bin" || mw_die "cannot make the 16 MiB body"
chmod 0644 "$MW_TMP/body.bin"
BODY_SUM=$(sha256sum <"$MW_TMP/body.bin" | cut -d' ' -f1)
HAVE_ECHO=0
LOAD=
if [ -f "$ECHO_MOD" ]; then
	HAVE_ECHO=1
	LOAD="load_module $ECHO_MOD;"
fi
ECHO_LOC=
[ "$HAVE_ECHO" == 1 ] && ECHO_LOC='location = /echo { echo_read_request_body; echo_request_body; }'
nginx_conf "$MW_TMP/up" "$LOAD" "server {
		listen $UP_IP:8089;
		root $FILES/www;
		client_body_buffer_size 64m;
		location = /small { default_type text/plain; return 200 \"ok\\n\"; }
		$ECHO_LOC
	}"
mw_spawn up --no-cg nginx -e stderr -p "$MW_TMP/up" -c "$MW_TMP/up/nginx.conf"
mw_wait_port up 8089 v4 || mw_die "the upstream nginx did not listen"

# --- pod "app": nginx the application, HAProxy the sidecar -----------------------------------------
MW_HAPROXY_TIMEOUT=60s MW_HAPROXY_MAXCONN=1024 mw_haproxy app 15001
mw_wait_port app 15001 v4 || mw_die "HAProxy did not listen"
nginx_conf "$MW_RUN/app" "" "server {
		listen $APP_IP:8080;
		location / {
			proxy_pass http://$UP_IP:8089;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
		}
	}
	upstream keep { server $UP_IP:8089; keepalive 16; }
	server {
		listen $APP_IP:8081;
		location / {
			proxy_pass http://keep;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
		}
	}"
mw_spawn app nginx -e stderr -p "$MW_RUN/app" -c "$MW_RUN/app/nginx.conf"
mw_wait_port app 8080 v4 || mw_die "nginx (the app) did not listen"

# --- pod "ngx": curl the application, nginx the sidecar --------------------------------------------
nginx_conf "$MW_RUN/ngx" "" "server {
		listen 0.0.0.0:15001;
		listen [::]:15001 ipv6only=on;
		client_header_buffer_size 1k;
		large_client_header_buffers 4 16k;
		location / {
			proxy_pass http://$UP_IP:8089;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
		}
	}"
mw_spawn ngx --uid 1337:1337 nginx -e stderr -p "$MW_RUN/ngx" -c "$MW_RUN/ngx/nginx.conf"
mw_wait_port ngx 15001 v4 || mw_die "nginx (the sidecar) did not listen"

# --- enrolment ---------------------------------------------------------------------------------------
MODE=1
if [ "$(mw_in_ns app "$MESHWARP" status -j 2>/dev/null | jq -r .shortcut.others_on_host)" == true ]; then
	echo "# other sockops/sk_msg/sockmap users on this host: using MESHWARP_SHORTCUT=force"
	MODE=force
fi
for pod in app ngx; do
	# IPv6 interception in ngx: the app's IPv6 and v4-mapped connections go to the sidecar too.
	[ "$pod" == ngx ] && export APPMESH_ENABLE_IPV6=1
	out=$(MESHWARP_SHORTCUT=$MODE ip netns exec "$(mw_ns "$pod")" "$MESHWARP" init 2>&1)
	mw_expect_eq "$pod: init with MESHWARP_SHORTCUT=$MODE" 0 $? || mw_die "init failed: $out"
	if [ "$MODE" == 1 ] &&
	   [ "$(mw_in_ns "$pod" "$MESHWARP" status -j | jq -r .shortcut.others_on_host)" == true ]; then
		MODE=force	# someone else's sockmap user appeared meanwhile
		MESHWARP_SHORTCUT=force ip netns exec "$(mw_ns "$pod")" "$MESHWARP" init >/dev/null 2>&1
	fi
	mw_expect_eq "$pod: the workload has the shortcut" true \
		"$(mw_in_ns "$pod" "$MESHWARP" status -j | jq -r '.workloads[] | select(.current) | .shortcut')" ||
		mw_die "no shortcut in $pod"
done
ev() { mw_in_ns app "$MESHWARP" status -j | jq -r ".shortcut.events.$1"; }

# --- nginx (app) <-> HAProxy (sidecar) -------------------------------------------------------------
p0=$(ev paired) b0=$(ev bytes)
for i in 1 2 3; do
	mw_expect_eq "app: 64 MiB through nginx and HAProxy #$i: sha256" "$BIG_SUM" \
		"$(mw_in_ns up curl -sS --max-time 60 "http://$APP_IP:8080/big.bin" | sha256sum | cut -d' ' -f1)"
done
if [ "$HAVE_ECHO" == 1 ]; then
	mw_expect_eq "app: 16 MiB up and back through nginx and HAProxy: sha256" "$BODY_SUM" \
		"$(mw_in_ns up curl -sS --max-time 60 --data-binary "@$MW_TMP/body.bin" \
			"http://$APP_IP:8080/echo" | sha256sum | cut -d' ' -f1)"
else
	echo "# $ECHO_MOD missing: no upload echo through nginx"
fi
out=$(mw_in_ns up wrk -t 1 -c 16 -d 3s --timeout 5s "http://$APP_IP:8081/small" 2>&1)
mw_expect_match "app: wrk, 16 keep-alive connections through nginx's upstream pool" \
	'[0-9]+ requests in' "$out"
mw_expect_eq "  no error, no non-2xx" "" "$(grep -E 'Socket errors|Non-2xx' <<<"$out")"
mw_expect_match "app: nginx's upstream sockets paired" '^[1-9][0-9]*$' $(($(ev paired) - p0))
mw_expect_match "  the shortcut carried bytes" '^[1-9][0-9]*$' $(($(ev bytes) - b0))
pids=()
for i in $(seq 8); do
	mw_in_ns up curl -sS --max-time 60 "http://$APP_IP:8080/big.bin" -o "$MW_TMP/par-$i.bin" &
	pids+=($!)
done
wait "${pids[@]}"
ok=0
for i in $(seq 8); do
	[ "$(sha256sum <"$MW_TMP/par-$i.bin" | cut -d' ' -f1)" == "$BIG_SUM" ] && ok=$((ok + 1))
	rm -f "$MW_TMP/par-$i.bin"
done
mw_expect_eq "app: 8 downloads of 64 MiB at once, all intact" 8 "$ok"

# --- curl (app) <-> nginx (sidecar) ------------------------------------------------------------------
# A 6 KiB header: nginx reads it 1 KiB at a time, asking FIONREAD after each full buffer.
HDR="X-Pad: $(head -c 6000 /dev/zero | tr '\0' 'a')"
p0=$(ev paired) b0=$(ev bytes)
mw_expect_eq "ngx: 64 MiB through the nginx sidecar, 6 KiB request header: sha256" "$BIG_SUM" \
	"$(mw_in_pod ngx curl -sS --max-time 60 -H "$HDR" "http://$UP_IP:8089/big.bin" |
		sha256sum | cut -d' ' -f1)"
for i in $(seq 20); do
	out=$(mw_in_pod ngx curl -sS --max-time 10 -H "$HDR" "http://$UP_IP:8089/small" 2>&1)
	[ "$out" == ok ] || break
done
mw_expect_eq "ngx: 20 requests with a 6 KiB header, each answered" ok "$out"
if [ "$HAVE_ECHO" == 1 ]; then
	for i in 1 2 3; do
		mw_expect_eq "ngx: 16 MiB up and back through the nginx sidecar #$i: sha256" "$BODY_SUM" \
			"$(mw_in_pod ngx curl -sS --max-time 60 --data-binary "@$MW_TMP/body.bin" \
				"http://$UP_IP:8089/echo" | sha256sum | cut -d' ' -f1)"
	done
fi
mw_expect_match "ngx: curl's sockets paired with nginx's" '^[1-9][0-9]*$' $(($(ev paired) - p0))
mw_expect_match "  the shortcut carried bytes" '^[1-9][0-9]*$' $(($(ev bytes) - b0))

# The same over IPv6 ([::1] on both ends) and v4-mapped (curl's AF_INET6 socket on
# ::ffff:127.0.0.1, nginx's AF_INET one on 127.0.0.1: one tuple, two families).
for dst in "[fd00:250:44::2]" "[::ffff:$UP_IP]"; do
	p0=$(ev paired) b0=$(ev bytes)
	mw_expect_eq "ngx: 64 MiB to $dst through the nginx sidecar: sha256" "$BIG_SUM" \
		"$(mw_in_pod ngx curl -sS -g --max-time 60 "http://$dst:8089/big.bin" |
			sha256sum | cut -d' ' -f1)"
	mw_expect_eq "  paired, and the shortcut carried bytes" "1 yes" \
		"$(($(ev paired) - p0)) $([ $(($(ev bytes) - b0)) -gt 0 ] && echo yes || echo no)"
done

mw_test_end
