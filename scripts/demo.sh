#!/usr/bin/env bash
# Installs what the demo needs on a fresh Debian 12 machine, then opens the UI on the demo tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_apt mariadbd:mariadb-server mariadb:mariadb-client restic:restic rsync:rsync pigz:pigz
ensure_venv ""
exec .venv/bin/opsbackup demo "$@"
