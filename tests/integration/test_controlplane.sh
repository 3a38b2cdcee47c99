#!/usr/bin/env bash
# The control-plane client through `meshwarp routes fetch`: HTTPS with mutual TLS against
# Debian's nginx, inside a namespace of the test's own, on its loopback.
#
#   nginx (ssl_verify_client on, CA "ca") serving a routing table with an ETag:
#     127.0.0.1:8443 / [::1]:8443  server cert from "ca", SANs cp.mesh.local, 127.0.0.1, ::1
#     127.0.0.1:8444               server cert from "ca", SAN other.mesh.local (wrong SAN)
#     127.0.0.1:8445               server cert from "otherca" (wrong CA)
#   openssl s_server -verify_return_error on 127.0.0.1:8446: refuses a bad client certificate
#     in the handshake itself (nginx completes it and answers 400 instead)
#   127.0.0.1:8447 nothing listens; 127.0.0.1:8448 dropped by iptables (in the namespace)
#
# Certificates (EC P-256) are made here with the openssl CLI; the expired client certificate
# with `openssl ca -startdate/-enddate` in the past (bookworm's OpenSSL 3.0 `x509` cannot).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin controlplane

for t in nginx openssl iptables; do
	command -v "$t" >/dev/null || mw_die "$t missing: run scripts/install-deps.sh"
done
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"

# Only what the test passes: none of the caller's control-plane settings.
unset MESHWARP_CP_URL MESHWARP_CP_CA MESHWARP_CP_CERT MESHWARP_CP_KEY MESHWARP_CP_SAN
# routes fetch without --apply changes nothing, but keep any state it writes in our temp dir.
export MESHWARP_STATE_DIR=$MW_TMP/state
mkdir -p "$MESHWARP_STATE_DIR"

SAN=cp.mesh.local
PKI=$MW_TMP/pki
WWW=$MW_TMP/www
mkdir -p "$PKI" "$WWW"

# --- certificates --------------------------------------------------------------------------------
mw__ossl() {
	"$@" >>"$PKI/openssl.log" 2>&1 || { mw__log "failed: $*"; tail -n 5 "$PKI/openssl.log" >&2; return 1; }
}

pki_key() {
	mw__ossl openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"
}

# pki_ca NAME: a self-signed CA.
pki_ca() {
	pki_key "$1" &&
		mw__ossl openssl req -x509 -new -key "$PKI/$1.key" -out "$PKI/$1.pem" -days 3650 \
			-subj "/CN=meshwarp test $1" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
}

# pki_leaf NAME CA EKU SAN: a certificate signed by CA, valid 30 days from now.
pki_leaf() {
	pki_key "$1" || return 1
	mw__ossl openssl req -new -key "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$1" || return 1
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
		"$3" "$4" >"$PKI/$1.ext"
	mw__ossl openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 30 \
		-extfile "$PKI/$1.ext" -out "$PKI/$1.pem"
}

# pki_expired NAME CA: a client certificate of CA that expired in 2020 (openssl ca, dates given).
pki_expired() {
	local db=$PKI/$2-db
	mkdir -p "$db" && : >"$db/index.txt" && echo 1000 >"$db/serial"
	cat >"$PKI/$2-ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $db
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
certificate = $PKI/$2.pem
private_key = $PKI/$2.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:node-expired.mesh.local
EOF
	pki_key "$1" &&
		mw__ossl openssl req -new -key "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$1" &&
		mw__ossl openssl ca -batch -notext -config "$PKI/$2-ca.cnf" -extensions client_ext \
			-startdate 20200101000000Z -enddate 20200201000000Z \
			-in "$PKI/$1.csr" -out "$PKI/$1.pem"
}

pki_ca ca || mw_die "CA failed"
pki_ca otherca || mw_die "second CA failed"
pki_leaf server ca serverAuth "DNS:$SAN,IP:127.0.0.1,IP:::1" || mw_die "server certificate failed"
pki_leaf wrongsan ca serverAuth "DNS:other.mesh.local" || mw_die "wrong-SAN certificate failed"
pki_leaf otherserver otherca serverAuth "DNS:$SAN,IP:127.0.0.1" ||
	mw_die "other CA's server certificate failed"
pki_leaf client ca clientAuth "DNS:node-1.mesh.local" || mw_die "client certificate failed"
pki_expired expired ca || mw_die "expired client certificate failed"

# The fixtures are what they claim to be, before anything is blamed on meshwarp.
mw_expect_match "fixture: server certificate chains to ca" ': OK$' \
	"$(openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem" 2>&1)"
mw_expect_match "fixture: client certificate chains to ca" ': OK$' \
	"$(openssl verify -CAfile "$PKI/ca.pem" "$PKI/client.pem" 2>&1)"
mw_expect_match "fixture: other server does not chain to ca" 'unable to get local issuer' \
	"$(openssl verify -CAfile "$PKI/ca.pem" "$PKI/otherserver.pem" 2>&1)"
mw_expect_match "fixture: expired client certificate is expired" 'certificate has expired' \
	"$(openssl verify -CAfile "$PKI/ca.pem" "$PKI/expired.pem" 2>&1)"

# --- the control plane ---------------------------------------------------------------------------
ROUTES=$WWW/routes
cat >"$ROUTES" <<'EOF'
{
  "version": "cp-test.1",
  "services": [],
  "workloads": [
    { "workload": "*", "rules": [ { "match": { "port": 5432 }, "action": "bypass" } ] }
  ]
}
EOF
chmod -R a+rX "$WWW"

mw_netns cp

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
		listen [::1]:8443 ssl;
		ssl_certificate $PKI/server.pem;
		ssl_certificate_key $PKI/server.key;
		location = /moved { return 301 https://127.0.0.1:8443/routes; }
		location = /broken { return 500; }
	}
	server {
		listen 127.0.0.1:8444 ssl;
		ssl_certificate $PKI/wrongsan.pem;
		ssl_certificate_key $PKI/wrongsan.key;
	}
	server {
		listen 127.0.0.1:8445 ssl;
		ssl_certificate $PKI/otherserver.pem;
		ssl_certificate_key $PKI/otherserver.key;
	}
}
EOF
mw_spawn cp --no-cg nginx -e stderr -p "$NGX" -c "$NGX/nginx.conf"
for port in 8443 8444 8445; do
	mw_wait_port cp "$port" v4 || mw_die "nginx did not listen on $port"
done
mw_wait_port cp 8443 v6 || mw_die "nginx did not listen on [::1]:8443"

mw_spawn cp --no-cg openssl s_server -accept 127.0.0.1:8446 -cert "$PKI/server.pem" \
	-key "$PKI/server.key" -CAfile "$PKI/ca.pem" -Verify 1 -verify_return_error -www
mw_wait_port cp 8446 v4 || mw_die "openssl s_server did not listen"

mw_in_ns cp iptables -w -A INPUT -p tcp --dport 8448 -j DROP || mw_die "DROP rule failed"

URL=https://127.0.0.1:8443/routes
GOOD=(--cp-ca "$PKI/ca.pem" --cp-cert "$PKI/client.pem" --cp-key "$PKI/client.key")

# fetch ARGS...: `meshwarp routes fetch` in the namespace; OUT (stdout+stderr), RC, MS (elapsed).
fetch() {
	local t0 t1
	t0=$(date +%s%N)
	OUT=$(mw_in_ns cp timeout 60 "$MESHWARP" routes fetch "$@" 2>&1)
	RC=$?
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
}

# fails NAME REGEX: the last fetch exited 1, said REGEX, and nothing of a table.
fails() {
	printf '# %s: %s\n' "$1" "$OUT"
	mw_expect_eq "$1: exit 1" 1 "$RC"
	mw_expect_match "$1: message" "$2" "$OUT"
	if [[ $OUT =~ HTTP\ (200|304) ]]; then
		mw_fail "$1: no table" "reported as a table: $OUT"
	else
		mw_pass "$1: no table"
	fi
	if [ "$(printf '%s\n' "$OUT" | grep -c .)" -le 3 ]; then
		mw_pass "$1: short message"
	else
		mw_fail "$1: short message" "$(printf '%s\n' "$OUT" | grep -c .) lines: $OUT"
	fi
}

# --- good certificate, right SAN -----------------------------------------------------------------
size=$(stat -c %s "$ROUTES")
fetch --cp-url "$URL" "${GOOD[@]}" --cp-san "$SAN"
mw_expect_eq "good: exit 0" 0 "$RC"
mw_expect_match "good: HTTP 200 with the ETag and the size" \
	"^HTTP 200, ETag \"[0-9a-f]+-[0-9a-f]+\", $size bytes\$" "$OUT"
ETAG=$(sed -n 's/^HTTP 200, ETag \(.*\), [0-9]* bytes$/\1/p' <<<"$OUT")
# nginx's ETag is "<mtime hex>-<size hex>"
mw_expect_eq "good: the ETag is nginx's for the file" \
	"\"$(printf '%x-%x' "$(stat -c %Y "$ROUTES")" "$size")\"" "$ETAG"

# The same through the environment.
OUT=$(MESHWARP_CP_URL=$URL MESHWARP_CP_CA=$PKI/ca.pem MESHWARP_CP_CERT=$PKI/client.pem \
	MESHWARP_CP_KEY=$PKI/client.key MESHWARP_CP_SAN=$SAN \
	mw_in_ns cp timeout 60 "$MESHWARP" routes fetch 2>&1)
RC=$?
mw_expect_eq "environment: exit 0" 0 "$RC"
mw_expect_match "environment: same table, same ETag" "^HTTP (200|304), ETag $ETAG, " "$OUT"

# IP SANs: the URL's host when no SAN is configured (v4 and v6), or an IP given as the SAN.
fetch --cp-url "$URL" "${GOOD[@]}"
mw_expect_eq "no --cp-san, URL host 127.0.0.1 as IP SAN: exit 0" 0 "$RC"
fetch --cp-url "https://[::1]:8443/routes" "${GOOD[@]}"
mw_expect_eq "no --cp-san, URL host ::1 as IP SAN: exit 0" 0 "$RC"
mw_expect_match "IPv6: HTTP 200 with the ETag" "^HTTP 200, ETag $ETAG, $size bytes\$" "$OUT"
fetch --cp-url "$URL" "${GOOD[@]}" --cp-san 127.0.0.1
mw_expect_eq "--cp-san 127.0.0.1 (IP SAN): exit 0" 0 "$RC"
fetch --cp-url "$URL" "${GOOD[@]}" --cp-san 127.0.0.2
fails "IP SAN mismatch" 'server certificate: IP address mismatch \(want IP SAN 127\.0\.0\.2\)'

# Conditional GET: only through an option of the command, if it has one.
if "$MESHWARP" --help 2>&1 | grep -q -- '--etag'; then
	fetch --cp-url "$URL" "${GOOD[@]}" --cp-san "$SAN" --etag "$ETAG"
	mw_expect_eq "If-None-Match: exit 0" 0 "$RC"
	mw_expect_match "If-None-Match: HTTP 304" "^HTTP 304, ETag $ETAG, 0 bytes\$" "$OUT"
else
	echo "# If-None-Match/304: not asserted here (routes fetch has no --etag option)"
fi

# A new table: a new ETag, the new size.
printf '{ "version": "cp-test.2", "services": [], "workloads": [] }\n' >"$ROUTES.new"
touch -d '@1700000000' "$ROUTES.new"
mv "$ROUTES.new" "$ROUTES"
size2=$(stat -c %s "$ROUTES")
fetch --cp-url "$URL" "${GOOD[@]}" --cp-san "$SAN"
mw_expect_eq "changed table: exit 0" 0 "$RC"
mw_expect_match "changed table: HTTP 200, new ETag, new size" \
	"^HTTP 200, ETag \"$(printf '%x-%x' 1700000000 "$size2")\", $size2 bytes\$" "$OUT"

# --- the server is not who it should be ----------------------------------------------------------
fetch --cp-url https://127.0.0.1:8445/routes "${GOOD[@]}" --cp-san "$SAN"
fails "wrong CA" 'server certificate: unable to get local issuer certificate'

fetch --cp-url https://127.0.0.1:8444/routes "${GOOD[@]}" --cp-san "$SAN"
fails "wrong SAN" "server certificate: hostname mismatch \\(want SAN $SAN\\)"

# --- we are not who the server wants -------------------------------------------------------------
# nginx finishes the handshake and answers 400 with its reason.
fetch --cp-url "$URL" --cp-ca "$PKI/ca.pem" --cp-cert "$PKI/expired.pem" \
	--cp-key "$PKI/expired.key" --cp-san "$SAN"
fails "expired client certificate (nginx)" \
	'HTTP 400: The SSL certificate error \(the server refused our client certificate\)'

fetch --cp-url "$URL" --cp-ca "$PKI/ca.pem" --cp-san "$SAN"
fails "no client certificate (nginx)" \
	'HTTP 400: No required SSL certificate was sent \(.*none configured\)'

# A server that refuses in the handshake (TLS alert).
fetch --cp-url https://127.0.0.1:8446/ --cp-ca "$PKI/ca.pem" --cp-cert "$PKI/expired.pem" \
	--cp-key "$PKI/expired.key" --cp-san "$SAN"
fails "expired client certificate (handshake)" \
	'TLS handshake failed: the server refused our certificate \(alert: certificate expired\)'
fetch --cp-url https://127.0.0.1:8446/ --cp-ca "$PKI/ca.pem" --cp-san "$SAN"
fails "no client certificate (handshake)" \
	'TLS handshake failed: the server wants a client certificate; none configured'

# --- nothing there -------------------------------------------------------------------------------
fetch --cp-url https://127.0.0.1:8443/nothere "${GOOD[@]}" --cp-san "$SAN"
fails "HTTP 404" 'control plane https://127\.0\.0\.1:8443/nothere: HTTP 404: Not Found'

fetch --cp-url https://127.0.0.1:8443/broken "${GOOD[@]}" --cp-san "$SAN"
fails "HTTP 500" 'HTTP 500: Internal Server Error'

fetch --cp-url https://127.0.0.1:8443/moved "${GOOD[@]}" --cp-san "$SAN"
fails "redirect not followed" 'HTTP 301: Moved Permanently \(redirects are not followed\)'

# Something that is no table: over the size cap (a sparse file: nginx sends its length, the
# client stops at the headers), or NUL bytes in the body.
truncate -s 65M "$WWW/huge"
fetch --cp-url https://127.0.0.1:8443/huge "${GOOD[@]}" --cp-san "$SAN"
fails "over 64 MiB" 'response larger than 64 MiB'
printf '{ "version": \0 }\n' >"$WWW/nul"
fetch --cp-url https://127.0.0.1:8443/nul "${GOOD[@]}" --cp-san "$SAN"
fails "NUL bytes in the body" 'NUL bytes'
rm -f "$WWW/huge" "$WWW/nul"

fetch --cp-url https://127.0.0.1:8447/routes "${GOOD[@]}" --cp-san "$SAN"
fails "nothing listens" 'control plane https://127\.0\.0\.1:8447/routes: cannot connect: Connection refused'
if [ "$MS" -lt 3000 ]; then
	mw_pass "nothing listens: quickly (${MS} ms)"
else
	mw_fail "nothing listens: quickly" "${MS} ms"
fi

# Packets dropped: the connect timeout (5 s at most) ends it.
fetch --cp-url https://127.0.0.1:8448/routes "${GOOD[@]}" --cp-san "$SAN"
fails "packets dropped" \
	'control plane https://127\.0\.0\.1:8448/routes: cannot connect: no answer within [0-9]+ ms'
if [ "$MS" -lt 15000 ]; then
	mw_pass "packets dropped: within the timeout (${MS} ms)"
else
	mw_fail "packets dropped: within the timeout" "${MS} ms"
fi

fetch --cp-url http://127.0.0.1:8443/routes "${GOOD[@]}" --cp-san "$SAN"
fails "plain http refused" 'only https:// URLs are accepted'

fetch --cp-url "$URL" --cp-ca "$PKI/missing.pem" --cp-cert "$PKI/client.pem" \
	--cp-key "$PKI/client.key" --cp-san "$SAN"
fails "missing CA bundle" "CA bundle $PKI/missing\\.pem: No such file or directory"

# nginx is still the one we started, and served the good fetches.
mw_expect_match "nginx served 200s" '" 200 ' "$(cat "$NGX/access.log")"

mw_test_end
