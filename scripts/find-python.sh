#!/bin/sh
# Choose how to make .venv with a Python that tensorflow-metal supports (3.10-3.12), and make it.
#
#   sh scripts/find-python.sh            prints the choice, one line:
#       python <interpreter>               a 3.10-3.12 that runs: `<interpreter> -m venv`
#       uv <uv>                            no such Python, but uv is there: `uv venv --seed --python 3.12`
#       bootstrap <interpreter>            no such Python and no uv, but a Python with venv (e.g. the Xcode 3.9 or
#                                          Homebrew's 3.13) can install uv into .uv-bootstrap first
#       none                               nothing works: exit 2, the fixes go to stderr
#   sh scripts/find-python.sh --create DIR   acts on that choice (the Makefile calls this)
#
# PYTHON=/path/to/python overrides the search. Only shell built-ins are used for the choice, so tests can run it
# with a PATH holding nothing but fake interpreters. Each candidate is run, not just looked up: a pyenv shim
# exists even when no interpreter stands behind it.
BOOTSTRAP=.uv-bootstrap
UV_PYTHON=3.12
PROBE='import sys; v = "%d.%d" % sys.version_info[:2]
try:
    import ensurepip, venv
    print(v, "venv")
except ImportError:
    print(v)'

# "<major.minor>[ venv]" from running the interpreter, or nothing when it does not run.
probe() {
    "$1" -c "$PROBE" 2>/dev/null
}

supported() {
    case "$1" in 3.10|3.10\ *|3.11|3.11\ *|3.12|3.12\ *) return 0 ;; esac
    return 1
}

find_uv() {
    for u in "$BOOTSTRAP/bin/uv" "$(command -v uv 2>/dev/null)" "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
        if [ -n "$u" ] && [ -x "$u" ] && "$u" --version >/dev/null 2>&1; then
            echo "$u"
            return 0
        fi
    done
    return 1
}

choose() {
    if [ -n "$PYTHON" ]; then
        echo "python $PYTHON"
        return 0
    fi
    for p in python3.12 python3.11 python3.10 python3; do
        command -v "$p" >/dev/null 2>&1 || continue
        if supported "$(probe "$p")"; then
            echo "python $(command -v "$p")"
            return 0
        fi
    done
    if u=$(find_uv); then
        echo "uv $u"
        return 0
    fi
    for p in python3 python3.13 python3.14 python3.9 python; do
        command -v "$p" >/dev/null 2>&1 || continue
        case "$(probe "$p")" in
            *" venv") echo "bootstrap $(command -v "$p")"; return 0 ;;
        esac
    done
    echo none
    return 2
}

explain_none() {
    # printf, not a here-document through cat: the tests run this with only fake interpreters on PATH.
    printf '%s\n' >&2 \
        "No Python 3.10-3.12 runs here (tensorflow-metal has no wheel for 3.13 or newer), and uv cannot be set up." \
        "Fix it with either of:" \
        "    brew install python@3.12                          # then: make bench" \
        "    brew install uv                                   # then: make bench (uv fetches Python $UV_PYTHON itself)" \
        "      (without Homebrew: curl -LsSf https://astral.sh/uv/install.sh | sh)" \
        "or point at an interpreter:  make bench PYTHON=/path/to/python3.12"
}

create() {
    venv=$1
    choice=$(choose) || { explain_none; exit 2; }
    how=${choice%% *}
    what=${choice#* }
    case "$how" in
        python)
            echo "Creating $venv with $what"
            "$what" -m venv "$venv" ;;
        uv)
            echo "No Python 3.10-3.12 found; creating $venv with uv (Python $UV_PYTHON, downloaded by uv if needed)"
            "$what" venv --seed --python "$UV_PYTHON" "$venv" ;;
        bootstrap)
            echo "No Python 3.10-3.12 and no uv found; installing uv into $BOOTSTRAP with $what"
            "$what" -m venv "$BOOTSTRAP" && "$BOOTSTRAP/bin/python" -m pip install --quiet uv &&
                echo "Creating $venv with uv (Python $UV_PYTHON, downloaded by uv if needed)" &&
                "$BOOTSTRAP/bin/uv" venv --seed --python "$UV_PYTHON" "$venv" ;;
    esac || {
        echo "Could not create $venv ($choice failed; see above)." >&2
        explain_none
        exit 2
    }
}

case "$1" in
    --create) create "${2:-.venv}" ;;
    "") choose || { explain_none; exit 2; } ;;
    *) echo "usage: sh scripts/find-python.sh [--create DIR]" >&2; exit 2 ;;
esac
