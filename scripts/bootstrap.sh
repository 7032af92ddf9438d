# Sourced by scripts/dev and scripts/test: make sure uv exists and the workspace environment
# (.venv) matches uv.lock. Creates it on a fresh clone.

# uv from PATH, else the one `pip install --user uv` put in the user's bin directory.
find_uv() {
    if command -v uv >/dev/null 2>&1; then
        command -v uv
        return
    fi
    local user_bin
    user_bin="$(python3 -m site --user-base 2>/dev/null)/bin"
    if [ -x "$user_bin/uv" ]; then
        echo "$user_bin/uv"
    fi
}

ensure_uv() {
    UV="$(find_uv)"
    if [ -z "$UV" ]; then
        echo "[setup] uv not found: installing it with pip" >&2
        python3 -m pip install --quiet --user uv 2>/dev/null \
            || python3 -m pip install --quiet --user --break-system-packages uv \
            || python3 -m pip install --quiet uv
        UV="$(find_uv)"
        if [ -z "$UV" ]; then
            echo "[setup] could not install uv; see https://docs.astral.sh/uv/" >&2
            exit 1
        fi
    fi
    # uv run, used by scripts/devstack to start the services, must find the same uv.
    PATH="$(dirname "$UV"):$PATH"
    export PATH UV
}

ensure_venv() {
    ensure_uv
    # --all-packages: every workspace member (each service) and the dev group, exactly as locked.
    "$UV" sync --frozen --all-packages --quiet
}
