# Sourced by demo.sh and test.sh: apt packages and the project venv on a fresh Debian 12 machine.

ensure_apt() {
    # ensure_apt CMD:PACKAGE ...: install the packages whose command is missing.
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}" >&2
        local sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_venv() {
    # ensure_venv EXTRAS: .venv with the package installed (editable), e.g. ensure_venv test
    local extras=${1:+[$1]}
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # compat mode: a plain .pth path entry, not an import hook that costs every start ~10 ms
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" --config-settings editable_mode=compat 2>&1 | grep -v '^WARNING: Location' >&2 || true
    .venv/bin/python -c 'import opsbackup_tui' || { echo "the package did not install" >&2; return 1; }
}
