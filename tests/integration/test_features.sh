#!/usr/bin/env bash
# meshwarp features and what init does without a feature. MESHWARP_FEATURES_OFF makes meshwarp
# treat features as missing, so the paths of older kernels (5.10) run on this one:
# - features -j: every row has a unique id; SO_NETNS_COOKIE is one of them; an optional feature
#   turned off is present=false with what meshwarp does instead, and the exit status stays 0;
#   a required one turned off makes it exit 1.
# - init without a required feature exits 1, names it, and leaves nothing attached or pinned.
# - init without the netns cookie (sockops and SO_NETNS_COOKIE) and bpf_set_retval enrols,
#   names each missing feature, and names the namespace by its inode number (status shows it).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin features

[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
command -v jq >/dev/null || mw_die "jq missing: scripts/install-deps.sh installs it"

export APPMESH_START_ENABLED=1 APPMESH_IGNORE_UID=1337 APPMESH_ENVOY_EGRESS_PORT=15001
export APPMESH_ENVOY_INGRESS_PORT=15000 APPMESH_APP_PORTS=8080
unset MESHWARP_FEATURES_OFF

# --- features -j --------------------------------------------------------------------------------
j=$("$MESHWARP" features -j)
rc=$?
ids=$(jq -r '.features[].id' <<<"$j" 2>/dev/null)
mw_expect_eq "features -j: every row has an id" 0 \
	"$(jq '[.features[] | select((.id // "") == "")] | length' <<<"$j" 2>/dev/null)"
mw_expect_eq "features -j: ids are unique" "$(sort <<<"$ids" | wc -l)" "$(sort -u <<<"$ids" | wc -l)"
mw_expect_eq "features -j: so_netns_cookie is a row" so_netns_cookie \
	"$(grep -x so_netns_cookie <<<"$ids")"
required_missing=$(jq '[.features[] | select(.required and (.present | not))] | length' <<<"$j")
mw_expect_eq "features: exit 1 exactly when a required feature is missing" \
	"$([ "$required_missing" -gt 0 ] && echo 1 || echo 0)" "$rc"

j=$(MESHWARP_FEATURES_OFF=set_retval_connect4 "$MESHWARP" features -j)
mw_expect_eq "set_retval_connect4 off: the row says missing" false \
	"$(jq '.features[] | select(.id == "set_retval_connect4") | .present' <<<"$j")"
mw_expect_match "set_retval_connect4 off: the row says what meshwarp does instead" 'EPERM' \
	"$(jq -r '.features[] | select(.id == "set_retval_connect4") | .instead' <<<"$j")"
if [ "$required_missing" -eq 0 ]; then
	MESHWARP_FEATURES_OFF=set_retval_connect4 "$MESHWARP" features >/dev/null
	mw_expect_eq "an optional feature off: features exits 0" 0 $?
fi
MESHWARP_FEATURES_OFF=prog_sockops "$MESHWARP" features >/dev/null
mw_expect_eq "a required feature off: features exits 1" 1 $?

# --- init without a required feature -------------------------------------------------------------
mw_netns a
out=$(MESHWARP_FEATURES_OFF=prog_sockops ip netns exec "$(mw_ns a)" "$MESHWARP" init 2>&1)
mw_expect_eq "init without sockops exits 1" 1 $?
mw_expect_match "init without sockops names it" 'kernel lacks sockops programs' "$out"
mw_expect_eq "init without sockops attached nothing" "" \
	"$(ls "$MW_PIN/links" 2>/dev/null)"

# --- init without the netns cookie and bpf_set_retval (what 5.10 lacks) --------------------------
off=so_netns_cookie,netns_cookie_sockops,set_retval_connect4
out=$(MESHWARP_FEATURES_OFF=$off ip netns exec "$(mw_ns a)" "$MESHWARP" init 2>&1)
rc=$?
mw_expect_eq "init without the cookie and set_retval exits 0" 0 "$rc" || mw_die "init: $out"
mw_expect_match "init names SO_NETNS_COOKIE" 'kernel lacks SO_NETNS_COOKIE.*inode number' "$out"
mw_expect_match "init names the cookie in sockops" 'kernel lacks bpf_get_netns_cookie in sockops' "$out"
mw_expect_match "init names bpf_set_retval and EPERM" 'kernel lacks bpf_set_retval.*EPERM' "$out"
ino=$(stat -L -c %i "/run/netns/$(mw_ns a)")
st=$(MESHWARP_FEATURES_OFF=$off ip netns exec "$(mw_ns a)" "$MESHWARP" status -j 2>&1)
mw_expect_match "status names the namespace by its inode number ($ino)" "(^|[^0-9])$ino([^0-9]|$)" "$st"
mw_expect_eq "the links are pinned" "$(printf '%s\n' connect4 connect6 getpeername4 getpeername6 getsockopt sockops | sort)" \
	"$(ls "$MW_PIN/links" 2>/dev/null | sort)"

mw_test_end
