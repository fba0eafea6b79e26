#!/usr/bin/env bash
# Smoke test in a real terminal (tmux): open the demo UI, check every checklist row is painted, walk
# the whole DR wizard by keys alone (R, then Enter at each step, y to write the CRM's .env), back on
# the dashboard, q, expect exit 0.
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

screen=""
# wait_for TEXT [SECONDS]: until the terminal shows TEXT; fails with the screen after SECONDS (20).
wait_for() {
    local i
    for i in $(seq $((${2:-20} * 5))); do
        screen=$(tmux capture-pane -p -t "$session" 2>/dev/null || true)
        grep -qF -- "$1" <<<"$screen" && return 0
        sleep 0.2
    done
    echo "smoke: timed out waiting for '$1'; the screen shows:" >&2
    echo "$screen" >&2
    exit 1
}
# enter_when TEXT: Enter once the step's hint says Enter does TEXT.
enter_when() { wait_for "⏎ $1" "${2:-20}"; tmux send-keys -t "$session" Enter; }

"$ops" demo --no-ui --dir "$dir/demo" >/dev/null 2>"$dir/prepare.log" || { cat "$dir/prepare.log"; exit 1; }
tmux new-session -d -s "$session" -x 120 -y 40 "'$ops' demo --dir '$dir/demo'; echo \$? > '$dir/exit'"
wait_for "ops_log"
wait_for "overall: "
for id in db_dump uploads_snapshot verify_restore metrics ops_log; do
    grep -q "$id" <<<"$screen" || { echo "smoke: the checklist row $id is not on screen:" >&2; echo "$screen" >&2; exit 1; }
done

if grep -q "^db_socket" "$dir/demo/opsbackup.toml"; then  # the demo has its private MariaDB
    tmux send-keys -t "$session" R
    enter_when "restore from"
    enter_when "check the target"
    enter_when "create \`"
    enter_when "restore into \`"
    enter_when "import into \`"
    enter_when "next: verify" 60
    enter_when "next: switch"
    enter_when "write the new .env"
    wait_for "Point the CRM at"
    tmux send-keys -t "$session" y
    enter_when "next: the post-audit"
    enter_when "run the verify restore"
    enter_when "finish the DR session" 60
    wait_for "DR session recorded in"
    grep -q "^DB_DATABASE=crm_restore_" "$dir/demo/crm/.env" || { echo "smoke: the .env was not switched" >&2; exit 1; }
    echo "smoke: the DR wizard walked by Enter and y, the demo CRM switched to its restored copy"
fi

tmux send-keys -t "$session" q
for _ in $(seq 50); do [ -s "$dir/exit" ] && break; sleep 0.1; done
[ "$(cat "$dir/exit" 2>/dev/null)" = 0 ] || { echo "smoke: the UI did not quit with 0 after q" >&2; exit 1; }
echo "smoke: demo UI painted the checklist and quit cleanly"
