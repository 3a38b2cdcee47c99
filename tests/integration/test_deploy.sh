#!/usr/bin/env bash
# What the deployment files promise (docs/deploy.md), checked without systemd as PID 1 or a
# Kubernetes cluster:
#   (a) the systemd unit passes `systemd-analyze verify` (with ExecStart pointing at this build),
#       and a unit with a misspelt key does not (the check can fail)
#   (b) Type=notify: an agent given $NOTIFY_SOCKET sends READY=1 only once its enrolment
#       socket exists and /metrics answers, and STOPPING=1 on SIGTERM, then exits 0
#   (c) an abstract socket name (@...) works too; without $NOTIFY_SOCKET nothing is sent
#   (d) `make install DESTDIR=...` puts the binary, the unit and the docs where the unit and
#       docs/deploy.md say; the DaemonSet manifest parses as YAML with the paths the agent uses
#   node: the agents (--no-cg), in a namespace of the test's own
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mw_test_begin deploy

REPO=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$REPO/scripts/systemd/meshwarp-agent.service
DS=$REPO/scripts/k8s/meshwarp-agent.yaml
[ -x "$MESHWARP" ] || mw_die "$MESHWARP missing: build it first (make)"
for c in systemd-analyze curl /usr/bin/python3; do
	command -v "$c" >/dev/null || mw_die "$c missing: scripts/install-deps.sh installs it"
done
SOCK=$MW_TMP/agent/enrol.sock
MPORT=$((20000 + 16#${MW_ID#mw} % 10000 * 3 + 1))
mw_netns node
mw_in_ns node ip link set lo up

# --- (a) the unit -------------------------------------------------------------------------------
sed "s#^ExecStart=/usr/sbin/meshwarp #ExecStart=$MESHWARP #" "$UNIT" >"$MW_TMP/meshwarp-agent.service"
out=$(cd "$MW_TMP" && systemd-analyze verify ./meshwarp-agent.service 2>&1)
mw_expect_eq "unit: systemd-analyze verify, exit 0, no complaint" "0 []" "$? [$out]"
mkdir -p "$MW_TMP/bad"
sed 's/^Type=notify/Typo=notify/' "$MW_TMP/meshwarp-agent.service" >"$MW_TMP/bad/meshwarp-agent.service"
out=$(cd "$MW_TMP/bad" && systemd-analyze verify ./meshwarp-agent.service 2>&1)
mw_expect_match "unit with a misspelt key: systemd-analyze complains" "Typo" "$out"
mw_expect_eq "unit: Type=notify, the agent, the data path kept on stop (no ExecStop)" \
	"Type=notify ExecStart=/usr/sbin/meshwarp agent -" \
	"$(grep -E '^(Type|ExecStart)=' "$UNIT" | tr '\n' ' ')$(grep -c '^ExecStop' "$UNIT" | sed 's/^0$/-/')"

# --- (b) READY=1 and STOPPING=1 ---------------------------------------------------------------
# notify_listen NAME: a receiver of datagrams on the AF_UNIX address NAME (a path, or @name for
# the abstract namespace), each appended to $NOTES followed by a newline.
notify_listen() {
	NOTES=$MW_TMP/notes-$RANDOM
	: >"$NOTES"
	mw_spawn node --no-cg /usr/bin/python3 -c '
import socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:] if name.startswith("@") else name)
out = open(sys.argv[2], "ab", 0)
while True:
    out.write(s.recv(65536) + b"\n")
' "$1" "$NOTES"
	LISTENER=$MW_PID
}
# agent_up: an agent in node with $NOTIFY_SOCKET as set by the caller.
agent_up() {
	mw_spawn node --no-cg "$MESHWARP" agent --socket "$SOCK" --metrics-addr "127.0.0.1:$MPORT"
	AGENT=$MW_PID
	AGENT_LOG=$MW_LOG
}
agent_stop() {
	local i
	kill -TERM "$AGENT" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$AGENT" 2>/dev/null || break
		sleep 0.1
	done
	wait "$AGENT" 2>/dev/null
	AGENT_RC=$?
}

path=$MW_TMP/notify.sock
notify_listen "$path"
for i in $(seq 50); do [ -S "$path" ] && break; sleep 0.1; done
[ -S "$path" ] || mw_die "the listener did not bind $path"
NOTIFY_SOCKET=$path agent_up
ready=no
for i in $(seq 150); do
	if grep -q '^READY=1' "$NOTES"; then
		ready=yes
		# at the moment READY=1 is seen, what it promises must already hold
		sock=$([ -S "$SOCK" ] && echo socket || echo no-socket)
		metrics=$(mw_in_ns node curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" >/dev/null &&
			echo metrics || echo no-metrics)
		break
	fi
	sleep 0.1
done
mw_expect_eq "READY=1 sent" yes "$ready"
mw_expect_eq "  when sent: the enrolment socket exists and /metrics answers" \
	"socket metrics" "${sock:-} ${metrics:-}"
mw_expect_eq "  with a STATUS line naming the pin directory" 1 "$(grep -c "^STATUS=data path at $MW_PIN," "$NOTES")"
agent_stop
mw_expect_eq "SIGTERM: exit 0" 0 "$AGENT_RC"
mw_expect_eq "  STOPPING=1 sent after READY=1" "READY=1 STOPPING=1" \
	"$(grep -oE '^(READY|STOPPING)=1' "$NOTES" | tr '\n' ' ' | sed 's/ $//')"
mw_kill "$LISTENER"

# --- (c) abstract name; no variable, no message -------------------------------------------------
notify_listen "@$MW_ID-notify"
sleep 0.3
NOTIFY_SOCKET=@$MW_ID-notify agent_up
mw_wait_log "$NOTES" '^READY=1' 150
mw_expect_match "abstract socket: READY=1" "READY=1" "$(cat "$NOTES")"
agent_stop
mw_expect_eq "  exit 0" 0 "$AGENT_RC"
: >"$NOTES"
(unset NOTIFY_SOCKET; agent_up; mw_wait_log "$AGENT_LOG" 'enrolment socket' 100; agent_stop)
sleep 0.3
mw_expect_eq "no NOTIFY_SOCKET: nothing sent" "" "$(cat "$NOTES")"
mw_kill "$LISTENER"

# --- (d) make install, the manifest -------------------------------------------------------------
root=$MW_TMP/root
out=$(make -s -C "$REPO" BUILD="$(dirname "$MESHWARP")" install DESTDIR="$root" PREFIX=/usr 2>&1)
mw_expect_eq "make install DESTDIR: exit 0" 0 "$?"
for f in usr/sbin/meshwarp lib/systemd/system/meshwarp-agent.service \
	usr/share/doc/meshwarp/deploy.md usr/share/doc/meshwarp/config.md; do
	mw_expect_eq "  installs /$f" yes "$([ -s "$root/$f" ] && echo yes || echo "no")"
done
mw_expect_eq "  the unit's documentation is what is installed" "" \
	"$(grep '^Documentation=' "$root/lib/systemd/system/meshwarp-agent.service" | tr ' ' '\n' | sed -n 's#^.*file:##p' |
		while read -r d; do [ -s "$root$d" ] || echo "missing $d"; done)"
out=$(/usr/bin/python3 - "$DS" <<'PY' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
print(spec["hostPID"], spec["hostNetwork"], c["args"], env["MESHWARP_CGROUP"],
      mounts.get("/sys/fs/bpf"), mounts.get("/run/meshwarp"), mounts.get(env["MESHWARP_CGROUP"]))
PY
)
mw_expect_eq "DaemonSet: hostPID, hostNetwork, agent, host cgroup2, bpffs and socket mounted" \
	"True True ['agent'] /host/sys/fs/cgroup bpffs run cgroup" "$out"

"$MESHWARP" unload --pin-dir "$MW_PIN" >/dev/null 2>&1
mw_test_end
