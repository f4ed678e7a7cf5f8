#!/usr/bin/env bash
# test_cli.sh - the softhba binary end to end: usage errors, config refusals, serve/demo start, iSCSI clients, clean shutdown.
set -u

SOFTHBA=${1:?usage: test_cli.sh PATH-TO-softhba}
TMP=$(mktemp -d /tmp/softhba-cli-XXXXXX)
FAILS=0

cleanup() {
	for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# expect STATUS PATTERN -- CMD...: run CMD, check exit status and that stderr+stdout contain PATTERN (fixed string).
expect() {
	local want=$1 pat=$2
	shift 3
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$* -> status $rc, want $want; output: $out"
	elif ! grep -qF -- "$pat" <<<"$out"; then
		fail "$* -> output lacks '$pat': $out"
	else
		pass "$* -> $rc"
	fi
}

# wait_line FILE PATTERN: wait (at most 10 s) for a line matching PATTERN (regex) in FILE.
wait_line() {
	for _ in $(seq 1 100); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# stop PID SIGNAL: send SIGNAL, wait at most 10 s; STOP_RC gets the exit status (or "hung").
stop() {
	kill -"$2" "$1"
	for _ in $(seq 1 100); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			STOP_RC=$?
			return
		fi
		sleep 0.1
	done
	STOP_RC=hung
}

# ---- command line ----
expect 0 "usage: softhba <command>" -- "$SOFTHBA" --help
expect 0 "usage: softhba serve --config FILE" -- "$SOFTHBA" help serve
expect 0 "usage: softhba demo" -- "$SOFTHBA" demo --help
expect 0 "softhba " -- "$SOFTHBA" --version
expect 2 "usage: softhba <command>" -- "$SOFTHBA"
expect 2 "unknown command 'srve'; did you mean 'serve'?" -- "$SOFTHBA" srve
expect 2 "unknown option '--confg'; did you mean '--config'?" -- "$SOFTHBA" serve --confg x
expect 2 "--config FILE is required" -- "$SOFTHBA" serve
expect 2 "option '--config' needs a value" -- "$SOFTHBA" serve --config
expect 2 "did you mean '--config a.json'?" -- "$SOFTHBA" serve a.json
expect 2 "--reactors wants a number from 1 to 1024, not 'many'" -- "$SOFTHBA" serve --reactors many --config x
expect 2 "--log-level wants error, warn, notice, info or debug, not 'loud'" -- "$SOFTHBA" serve --log-level loud --config x
expect 2 "--iscsi-listen \"3260\" has no port" -- "$SOFTHBA" demo --iscsi-listen 3260

# ---- configuration refusals: exit 2, key path named, nothing created ----
expect 2 "$TMP/none.json: cannot open: No such file or directory" -- "$SOFTHBA" serve --config "$TMP/none.json"
cat >"$TMP/bad.json" <<EOF
{ "volumes": [ { "name": "d0", "backend": "file", "path": "$TMP/created.img", "size": "1MiB" } ],
  "iscsi": { "portals": ["127.0.0.1:0"],
    "targets": [ { "name": "iqn.2026-11.org.softhba:t0", "luns": [ { "lun": 0, "volume": "d1" } ] } ] } }
EOF
expect 2 "bad.json: iscsi.targets[0].luns[0].volume: no volume named \"d1\"; did you mean \"d0\"?" -- \
	"$SOFTHBA" serve --config "$TMP/bad.json"
[ -e "$TMP/created.img" ] && fail "a refused config created its volume file" || pass "refused config created nothing"
sed 's/"volume": "d1"/"volume": "d0"/' "$TMP/bad.json" >"$TMP/good.json"
expect 0 "good.json: valid (1 volume(s), 1 target(s))" -- "$SOFTHBA" serve --check --config "$TMP/good.json"
[ -e "$TMP/created.img" ] && fail "--check created the volume file" || pass "--check created nothing"

# ---- serve: URLs on stdout, iSCSI clients, port in use, SIGTERM ----
cat >"$TMP/serve.json" <<EOF
{ "reactors": 2, "control": { "socket": "$TMP/s1.sock" },
  "volumes": [ { "name": "ram0", "backend": "malloc", "size": "64MiB" },
               { "name": "f0", "backend": "file", "path": "$TMP/f0.img", "size": "8MiB" } ],
  "iscsi": { "portals": ["127.0.0.1:0"],
    "targets": [ { "name": "iqn.2026-11.org.softhba:cli", "alias": "cli",
                   "luns": [ { "lun": 0, "volume": "ram0", "thin": true }, { "lun": 5, "volume": "f0" } ] } ] } }
EOF
"$SOFTHBA" serve --config "$TMP/serve.json" >"$TMP/serve.out" 2>"$TMP/serve.err" &
SP=$!
if wait_line "$TMP/serve.out" '^iscsi://127\.0\.0\.1:[0-9]+/iqn\.2026-11\.org\.softhba:cli/5$'; then
	pass "serve printed its LUN URLs"
	URL0=$(sed -n 1p "$TMP/serve.out")
	HP=$(sed -E 's#^iscsi://([^/]+)/.*#\1#' <<<"$URL0")
	[ "$(wc -l <"$TMP/serve.out")" -eq 2 ] && pass "one line per LUN" || fail "serve.out: $(cat "$TMP/serve.out")"
	[ "$URL0" = "iscsi://$HP/iqn.2026-11.org.softhba:cli/0" ] && pass "LUN 0 URL" || fail "URL0=$URL0"
	if command -v iscsi-inq >/dev/null; then
		expect 0 "SOFTHBA" -- timeout 20 iscsi-inq "$URL0"
		expect 0 "iqn.2026-11.org.softhba:cli" -- timeout 20 iscsi-ls "iscsi://$HP"
	fi
	[ -S "$TMP/s1.sock" ] && pass "control socket created" || fail "no control socket at $TMP/s1.sock"
	sed "s/127.0.0.1:0/$HP/; s#$TMP/f0.img#$TMP/f1.img#; s#s1.sock#s2.sock#" "$TMP/serve.json" >"$TMP/inuse.json"
	expect 1 "softhba: cannot listen on $HP: Address already in use" -- timeout 20 "$SOFTHBA" serve --config "$TMP/inuse.json"
	stop "$SP" TERM
	[ "$STOP_RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $STOP_RC; stderr: $(cat "$TMP/serve.err")"
	grep -q "shutdown complete" "$TMP/serve.err" && pass "shutdown completed" || fail "no 'shutdown complete'"
	[ -e "$TMP/s1.sock" ] && fail "control socket left behind" || pass "control socket removed"
else
	fail "serve did not print its URLs; stderr: $(cat "$TMP/serve.err")"
fi

# ---- demo: a RAID 5 over four member files; data written over iSCSI survives a restart (reassembly) ----
ST="$TMP/state/demo"
SOFTHBA_STATE_DIR="$ST" "$SOFTHBA" demo --iscsi-listen 127.0.0.1:0 --reactors 2 >"$TMP/demo.out" 2>"$TMP/demo.err" &
DP=$!
if wait_line "$TMP/demo.out" '^Ctrl-C stops'; then
	URL=$(grep -E '^iscsi://' "$TMP/demo.out")
	grep -qE '^iscsi://127\.0\.0\.1:[0-9]+/iqn\.2026-11\.org\.softhba:demo/0$' <<<"$URL" && pass "demo URL line" ||
		fail "demo URL: $URL"
	grep -qF "iscsiadm -m discovery -t st -p" "$TMP/demo.out" && pass "demo banner" || fail "banner: $(cat "$TMP/demo.out")"
	[ "$(stat -c %a "$ST")" = 700 ] && pass "state dir mode 0700" || fail "state dir mode $(stat -c %a "$ST")"
	for i in 0 1 2 3; do
		[ "$(stat -c %s "$ST/member$i.img")" = 536870912 ] && pass "member$i.img is 512 MiB" || fail "member$i.img size"
	done
	expect 0 "demo: RAID 5, optimal" -- "$SOFTHBA" --socket "$ST/ctl.sock" raid show demo
	expect 1 "another softhba demo is using" -- env SOFTHBA_STATE_DIR="$ST" "$SOFTHBA" demo --iscsi-listen 127.0.0.1:0
	if command -v qemu-img >/dev/null; then
		head -c 1048576 /dev/urandom >"$TMP/pattern"
		if timeout 60 qemu-img convert -n -f raw -O raw "$TMP/pattern" "$URL" 2>"$TMP/qemu.err"; then
			stop "$DP" INT
			[ "$STOP_RC" = 0 ] && pass "demo SIGINT: exit 0" || fail "demo SIGINT: exit $STOP_RC"
			head -c 8 "$ST/member0.img" | grep -q SHBARAID && pass "member0.img carries a RAID superblock" ||
				fail "no superblock at the start of member0.img"
			# Restart on the same state: the array is reassembled from its superblocks.
			SOFTHBA_STATE_DIR="$ST" "$SOFTHBA" demo --iscsi-listen 127.0.0.1:0 >"$TMP/demo2.out" 2>"$TMP/demo2.err" &
			DP=$!
			if wait_line "$TMP/demo2.out" '^Ctrl-C stops'; then
				URL2=$(grep -E '^iscsi://' "$TMP/demo2.out")
				wait_line "$TMP/demo2.err" "assembled 'demo'" && pass "restart reassembled the array" ||
					fail "no assembly in the log: $(cat "$TMP/demo2.err")"
				if timeout 60 qemu-img dd -f raw -O raw bs=1048576 count=1 if="$URL2" of="$TMP/readback" \
					2>"$TMP/qemu2.err"; then
					cmp -n 1048576 "$TMP/pattern" "$TMP/readback" && pass "data survived the restart" ||
						fail "data read after the restart differs"
				else
					fail "qemu-img read: $(cat "$TMP/qemu2.err")"
				fi
				stop "$DP" TERM
				[ "$STOP_RC" = 0 ] && pass "demo restart and SIGTERM: exit 0" || fail "demo restart: exit $STOP_RC"
			else
				fail "demo restart: $(cat "$TMP/demo2.err")"
			fi
		else
			fail "qemu-img write: $(cat "$TMP/qemu.err")"
		fi
	fi
else
	fail "demo did not start; stderr: $(cat "$TMP/demo.err")"
fi

if [ "$FAILS" -ne 0 ]; then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all checks passed"
