#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine, starts MariaDB when 127.0.0.1:3306
# does not answer, then runs the lint (ruff, the import-linter contracts), the tmux smoke test and
# pytest on three workers (arguments go to pytest; OPSBACKUP_TEST_WORKERS=0 runs it in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_apt mariadbd:mariadb-server mariadb:mariadb-client restic:restic rsync:rsync pigz:pigz tmux:tmux \
    promtool:prometheus faketime:faketime systemd-analyze:systemd
ensure_venv test

mariadb_answers() {
    mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1 \
        || mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping 2>&1 | grep -q 'Access denied'
}
if ! mariadb_answers; then
    echo "starting MariaDB on 127.0.0.1:3306" >&2
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 100); do mariadb_answers && break; sleep 0.2; done
    mariadb_answers || { echo "MariaDB did not start; see journalctl or /var/log/mysql" >&2; exit 1; }
fi

# Tests log in over TCP. A bare Debian server lets root in by unix socket only (ERROR 1698):
# then give the tests their own superuser, made through the socket.
if ! mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    pw_file=.venv/test-db-password
    [ -s "$pw_file" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$pw_file")
    pw=$(cat "$pw_file")
    mariadb --no-defaults -uroot <<SQL
CREATE USER IF NOT EXISTS 'opsbackup_test'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'opsbackup_test'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'opsbackup_test'@'127.0.0.1' WITH GRANT OPTION;
SQL
    export OPSBACKUP_TEST_DB_USER=opsbackup_test OPSBACKUP_TEST_DB_PASSWORD_FILE="$PWD/$pw_file"
fi

# The layering and the lint, before anything runs: core imports no Textual, rich, widgets or screens.
.venv/bin/ruff check --quiet opsbackup_tui tests bench
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

PATH="$PWD/.venv/bin:$PATH" tests/smoke_tmux.sh
# Side by side: most tests wait on a server or a child process, so three workers fit two cores.
exec .venv/bin/python -m pytest -n "${OPSBACKUP_TEST_WORKERS:-3}" "$@"
