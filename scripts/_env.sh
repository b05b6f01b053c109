# Shell helpers shared by scripts/quickstart, scripts/test and scripts/lock (sourced, not run).
#
# Installs are reproducible: .venv gets exactly the versions in requirements/lock.txt (hashes
# checked), the set CI tested, and the package itself without dependencies. The lock is for
# CPython 3.11 on Linux x86_64; elsewhere, or with PS_UNLOCKED=1, pip resolves pyproject.toml's
# ranges instead (newest versions that day: not what CI tested).

LOCK=requirements/lock.txt
LOCK_PYTHON=3.11

pick_python() {
    local py
    for py in "${PYTHON:-}" "python$LOCK_PYTHON" python3 python3.13 python3.12; do
        if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
    echo "error: Preference Studio needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    return 1
}

# pip options that find the CPU build of torch the lock pins (torch==X+cpu): machines without
# internet keep it in a local wheel directory, others get it from PyTorch's CPU index.
torch_source() {
    if [ -d /opt/wheels ]; then
        echo --find-links /opt/wheels
    else
        echo --extra-index-url https://download.pytorch.org/whl/cpu
    fi
}

# True when .venv's Python is the one the lock was made for, on the platform it was made for.
lock_fits() {
    .venv/bin/python -c "
import platform, sys
sys.exit(not (sys.version_info[:2] == tuple(map(int, '$LOCK_PYTHON'.split('.')))
              and sys.platform == 'linux' and platform.machine() == 'x86_64'))"
}

# ensure_venv EXTRAS: create .venv and install into it, only when the lock, pyproject.toml or
# the extras changed since the last install (recorded in .venv/.ps-installed).
ensure_venv() {
    local extras=$1 stamp=.venv/.ps-installed wanted mode=locked
    if [ ! -x .venv/bin/python ]; then
        echo "Creating .venv..."
        "$(pick_python)" -m venv .venv || return 1
    fi
    if [ -n "${PS_UNLOCKED:-}" ] || ! lock_fits; then
        mode=unlocked
    fi
    wanted="$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1) $mode"
    # One install covers both scripts: the lock holds the test extras too.
    if [ "$mode" = unlocked ]; then wanted="$wanted $extras"; fi
    if [ -f "$stamp" ] && grep -qxF -- "$wanted" "$stamp"; then
        return
    fi
    # shellcheck disable=SC2046
    if [ "$mode" = locked ]; then
        echo "Installing the locked dependency set ($LOCK) into .venv (first run: a few minutes)..."
        .venv/bin/pip install --quiet --require-hashes --no-deps -r "$LOCK" $(torch_source) ||
            return 1
        # The package itself, without resolving anything: the lock already holds setuptools.
        .venv/bin/pip install --quiet --no-deps --no-build-isolation -e . || return 1
    else
        echo "warning: not installing the lock ($LOCK is for CPython $LOCK_PYTHON on Linux" \
            "x86_64, or PS_UNLOCKED is set): resolving pyproject.toml's ranges instead." >&2
        .venv/bin/pip install --quiet -e ".$extras" $(torch_source) || return 1
    fi
    rm -f "$stamp"
    echo "$wanted" >"$stamp"
}

# The versions of the packages that decide whether training works, as installed.
print_key_versions() {
    .venv/bin/python - <<'PY'
from importlib.metadata import PackageNotFoundError, version

names = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "tokenizers", "django")
found = []
for name in names:
    try:
        found.append(f"{name}=={version(name)}")
    except PackageNotFoundError:
        found.append(f"{name} (missing)")
print("installed: " + " ".join(found))
PY
}

# axe-core for the accessibility checks of the browser tests, exactly as package-lock.json says,
# when npm is there (without it those checks skip and say why).
ensure_node_modules() {
    [ -f package-lock.json ] || return 0
    if ! command -v npm >/dev/null 2>&1; then
        echo "npm not found: the accessibility checks will skip (apt-get install nodejs npm)" >&2
        return 0
    fi
    local stamp=node_modules/.ps-installed wanted
    wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ -f "$stamp" ] && grep -qxF -- "$wanted" "$stamp"; then
        return 0
    fi
    echo "Installing axe-core from package-lock.json into node_modules..."
    npm ci --no-audit --no-fund --loglevel=error </dev/null || return 1
    echo "$wanted" >"$stamp"
}
