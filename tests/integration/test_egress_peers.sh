#!/usr/bin/env bash
# Egress through real peers: HAProxy as the sidecar (uid 1337, `server s 0.0.0.0:0`, so it dials
# whatever SO_ORIGINAL_DST answers), nginx as the upstream in "up", curl as the app in the pod.
# A request through meshwarp reaches nginx through HAProxy: nginx's body names the address and
# port the client asked for, HAProxy's session counter and meshwarp's redirect counter move by
# exactly the number of requests, and HAProxy's own upstream connections are counted as uid
# 1337 bypasses. curl as uid 1337 reaches nginx directly. A 1 MiB file crosses intact.
#
#   pod 10.250.1.1 ==veth== up 10.250.1.2  (nginx :8088 "upstream <addr>:<port>", :8089 files)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin egress_peers

[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
for t in haproxy nginx curl socat jq sha256sum; do
	command -v "$t" >/dev/null || mw_die "$t missing: scripts/install-deps.sh installs it"
done
N=5
POD_IP=10.250.1.1
UP_IP=10.250.1.2

export APPMESH_START_ENABLED=1
export APPMESH_IGNORE_UID=1337
unset APPMESH_IGNORE_GID
export APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=15000
export APPMESH_APP_PORTS=
export APPMESH_EGRESS_IGNORED_PORTS=
export APPMESH_EGRESS_IGNORED_IP=169.254.169.254
export APPMESH_ENABLE_IPV6=1

mw_netns pod
mw_netns up
mw_veth pod "$POD_IP" up "$UP_IP"

# nginx with the harness's config: every request answered "upstream $server_addr:$server_port".
mw_nginx up "$UP_IP" 8088
NGINX_LOG=$MW_TMP/nginx-8088/access.log
mw_wait_port up 8088 v4 || mw_die "nginx did not listen on 8088"

# A second nginx serving files, for the big body.
FILES=$MW_TMP/files
mkdir -p "$FILES/www" && chmod 0755 "$FILES" "$FILES/www"
head -c $((1024 * 1024)) /dev/urandom >"$FILES/www/big.bin" || mw_die "cannot make the 1 MiB file"
chmod 0644 "$FILES/www/big.bin"
BIG_SUM=$(sha256sum <"$FILES/www/big.bin" | cut -d' ' -f1)
cat >"$FILES/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $FILES/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
	access_log $FILES/access.log;
	client_body_temp_path $FILES/body;
	proxy_temp_path $FILES/proxy;
	fastcgi_temp_path $FILES/fastcgi;
	uwsgi_temp_path $FILES/uwsgi;
	scgi_temp_path $FILES/scgi;
	server {
		listen $UP_IP:8089;
		root $FILES/www;
	}
}
EOF
mw_spawn up --no-cg nginx -e stderr -p "$FILES" -c "$FILES/nginx.conf"
mw_wait_port up 8089 v4 || mw_die "the file nginx did not listen on 8089"

mw_expect_eq "setup: nginx reachable before enrolment" "upstream $UP_IP:8088" \
	"$(mw_in_pod pod curl -sS --max-time 5 "http://$UP_IP:8088/")" || mw_die "no path to nginx"

out=$(ip netns exec "$(mw_ns pod)" "$MESHWARP" init 2>&1)
mw_expect_eq "init exits 0" 0 $? || mw_die "init failed: $out"
POD_NETNS=$(mw_in_ns pod "$MESHWARP" status -j | jq -r .current_netns)
[[ $POD_NETNS =~ ^[0-9]+$ ]] || mw_die "status -j in pod gave no current_netns: $POD_NETNS"

mw_haproxy pod 15001
mw_wait_port pod 15001 v4 || mw_die "haproxy did not listen"

# snap: "redirect uid answered haproxy-sessions nginx-requests"
snap() {
	local v
	v=$("$MESHWARP" status -j | jq -r --argjson ns "$POD_NETNS" '
		(first(.workloads[] | select(.netns == $ns)) // null) as $w
		| if $w == null then "none" else
		  [$w.decisions.egress.redirect, $w.decisions.egress.uid, .stats.origdst_answered]
		  | map(tostring) | join(" ") end') || v=error
	echo "$v $(mw_haproxy_sessions "$MW_HAPROXY_SOCK") $(wc -l <"$NGINX_LOG")"
}

# expect_moved NAME BEFORE "REDIRECT UID ANSWERED SESSIONS REQUESTS"
expect_moved() {
	local -a b a d
	local i s=""
	read -r -a b <<<"$2"
	read -r -a a <<<"$(snap)"
	read -r -a d <<<"$3"
	for i in 0 1 2 3 4; do
		if [[ ${b[i]} =~ ^[0-9]+$ ]] && [[ ${a[i]} =~ ^[0-9]+$ ]]; then
			s+="$((a[i] - b[i])) "
		else
			s+="?(${b[i]}->${a[i]}) "
		fi
	done
	mw_expect_eq "$1: moved (redirect uid answered haproxy-sessions nginx-requests)" \
		"${d[*]}" "${s% }"
}

before=$(snap)
mw_expect_match "haproxy stats readable" '^[0-9]+ [0-9]+ [0-9]+ [0-9]+ [0-9]+$' "$before" ||
	mw_die "cannot read the counters: $before"

# --- curl through HAProxy ---------------------------------------------------------------------
# HAProxy asks SOL_IP once per connection and dials the answer as uid 1337: each request is one
# redirect, one answer, one session, one uid bypass and one nginx request.
for i in $(seq "$N"); do
	mw_expect_eq "curl through haproxy #$i: nginx's body" "upstream $UP_IP:8088" \
		"$(mw_in_pod pod curl -sS --max-time 5 "http://$UP_IP:8088/")"
done
expect_moved "curl through haproxy x$N" "$before" "$N $N $N $N $N"
mw_expect_eq "nginx saw the requests from the pod's address (HAProxy dialed from the pod)" \
	"$POD_IP" "$(tail -n 1 "$NGINX_LOG" | cut -d' ' -f1)"

# HAProxy dials the port the app asked for: one nginx does not serve is refused at HAProxy's
# dial (the app's connection was redirected and answered). HAProxy dials once and retries 3
# times (its default `retries 3`), each dial a uid 1337 bypass.
before=$(snap)
mw_expect_match "curl to a closed port through haproxy: no body" '^curl: \((52|56)\)' \
	"$(mw_in_pod pod curl -sS --max-time 10 "http://$UP_IP:8087/" 2>&1)"
expect_moved "curl to a closed port" "$before" "1 4 1 1 0"

# --- uid 1337 goes direct ---------------------------------------------------------------------
before=$(snap)
mw_expect_eq "curl as uid 1337 reaches nginx directly" "upstream $UP_IP:8088" \
	"$(mw_in_pod pod --uid 1337:1337 curl -sS --max-time 5 "http://$UP_IP:8088/")"
expect_moved "curl as uid 1337" "$before" "0 1 0 0 1"

# --- a bigger body, byte for byte -------------------------------------------------------------
before=$(snap)
got=$(mw_in_pod pod curl -sS --max-time 30 "http://$UP_IP:8089/big.bin" | sha256sum | cut -d' ' -f1)
mw_expect_eq "1 MiB through haproxy: sha256 matches" "$BIG_SUM" "$got"
expect_moved "1 MiB through haproxy" "$before" "1 1 1 1 0"
mw_expect_match "haproxy relayed the 1 MiB (its bytes-out counter)" '^[0-9]+$' \
	"$(echo "show stat" | socat -t 2 - "UNIX-CONNECT:$MW_HAPROXY_SOCK" |
		awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "bout") c = i; next }
			 $1 == "egress" && $2 == "FRONTEND" && $c >= 1048576 { print $c }')"
got=$(mw_in_pod pod --uid 1337:1337 curl -sS --max-time 30 "http://$UP_IP:8089/big.bin" |
	sha256sum | cut -d' ' -f1)
mw_expect_eq "1 MiB as uid 1337, direct: sha256 matches" "$BIG_SUM" "$got"

mw_test_end
