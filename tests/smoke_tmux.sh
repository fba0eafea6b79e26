#!/usr/bin/env bash
# Smoke test: open the demo UI in tmux, check every checklist row is painted, press q, expect exit 0.
set -euo pipefail
ops=$(command -v opsbackup)
dir=$(mktemp -d /tmp/opsbackup-smoke.XXXXXX)
session="opsbackup-smoke-$$"
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    "$ops" demo --stop --dir "$dir/demo" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"$ops" demo --no-ui --dir "$dir/demo" >/dev/null 2>"$dir/prepare.log" || { cat "$dir/prepare.log"; exit 1; }
tmux new-session -d -s "$session" -x 120 -y 40 "'$ops' demo --dir '$dir/demo'; echo \$? > '$dir/exit'"
screen=""
for _ in $(seq 100); do
    screen=$(tmux capture-pane -p -t "$session" 2>/dev/null || true)
    grep -q ops_log <<<"$screen" && grep -q "overall: [A-Z]" <<<"$screen" && break
    sleep 0.2
done
for id in db_dump uploads_snapshot verify_restore metrics ops_log; do
    if ! grep -q "$id" <<<"$screen"; then
        echo "smoke: the checklist row $id is not on screen:" >&2
        echo "$screen" >&2
        exit 1
    fi
done
tmux send-keys -t "$session" q
for _ in $(seq 50); do [ -s "$dir/exit" ] && break; sleep 0.1; done
[ "$(cat "$dir/exit" 2>/dev/null)" = 0 ] || { echo "smoke: the UI did not quit with 0 after q" >&2; exit 1; }
echo "smoke: demo UI painted the checklist and quit cleanly"
