#!/bin/sh
# Choose how to make .venv with a Python that tensorflow-metal supports (3.10-3.12), and make it.
#
#   sh scripts/find-python.sh            prints the choice, one line:
#       python <interpreter>               a 3.10-3.12 that runs: `<interpreter> -m venv`
#       uv <uv>                            no such Python, but uv is there: `uv venv --seed --python 3.12`
#       bootstrap <interpreter>            no such Python and no uv, but a Python with venv (e.g. the Xcode 3.9 or
#                                          Homebrew's 3.13) can install uv into .uv-bootstrap first
#       none                               nothing works: exit 2, the fixes go to stderr
#   sh scripts/find-python.sh --create DIR   acts on that choice (the Makefile calls this on every install)
#       DIR already there with a 3.10-3.12 that runs     kept as it is
#       DIR already there with another Python            refused with the fix (exit 2): pip would stop on
#                                                        requires-python with no fix shown
#       DIR already there but its python does not run    (a dangling link: its Python was upgraded or removed)
#                                                        made again with --clear (uv refuses an existing DIR)
#
# PYTHON=/path/to/python overrides the search; it is run and must be 3.10-3.12 too (exit 2 otherwise). Only shell
# built-ins are used for the choice, so tests can run it with a PATH holding nothing but fake interpreters. Each
# candidate is run, not just looked up: a pyenv shim exists even when no interpreter stands behind it.
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
        found=$(probe "$PYTHON")
        if supported "$found"; then
            echo "python $PYTHON"
            return 0
        fi
        echo none
        if [ -z "$found" ]; then
            echo "PYTHON=$PYTHON does not run. Point it at a Python 3.10-3.12, or leave it out to search." >&2
        else
            echo "PYTHON=$PYTHON is Python ${found%% *}; tensorflow-metal has wheels for 3.10-3.12 only." \
                "Point it at a Python 3.10-3.12, or leave it out to search." >&2
        fi
        return 3
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

# 0: DIR is a usable venv (kept); 1: no DIR (make it); 2: DIR holds another Python (refused, fix on stderr);
# 3: DIR is there but its python does not run (make it again with --clear).
existing() {
    [ -e "$1" ] || [ -L "$1" ] || return 1
    if ! [ -e "$1/bin/python" ] && ! [ -L "$1/bin/python" ]; then
        echo "$1 is there but is not a virtual environment (no $1/bin/python). Fix: move it away and run make again." >&2
        return 2
    fi
    found=$(probe "$1/bin/python")
    if supported "$found"; then
        echo "Using the existing $1 (Python ${found%% *})"
        return 0
    fi
    if [ -n "$found" ]; then
        printf '%s\n' >&2 \
            "$1 holds Python ${found%% *}, but this project needs 3.10-3.12 (tensorflow-metal has no wheel for it)." \
            "Fix: rm -rf $1 and run make again (it then picks a supported Python)."
        return 2
    fi
    echo "$1 is there but $1/bin/python does not run (its Python was upgraded or removed); making $1 again"
    return 3
}

create() {
    venv=$1
    existing "$venv"
    case $? in 0) return 0 ;; 2) exit 2 ;; 3) clear=--clear ;; *) clear= ;; esac
    choice=$(choose)
    case $? in 0) ;; 3) exit 2 ;; *) explain_none; exit 2 ;; esac
    how=${choice%% *}
    what=${choice#* }
    # $clear stays unquoted: it is empty or one word.
    case "$how" in
        python)
            echo "Creating $venv with $what"
            "$what" -m venv $clear "$venv" ;;
        uv)
            echo "No Python 3.10-3.12 found; creating $venv with uv (Python $UV_PYTHON, downloaded by uv if needed)"
            "$what" venv --seed --python "$UV_PYTHON" $clear "$venv" ;;
        bootstrap)
            echo "No Python 3.10-3.12 and no uv found; installing uv into $BOOTSTRAP with $what"
            "$what" -m venv "$BOOTSTRAP" && "$BOOTSTRAP/bin/python" -m pip install --quiet uv &&
                echo "Creating $venv with uv (Python $UV_PYTHON, downloaded by uv if needed)" &&
                "$BOOTSTRAP/bin/uv" venv --seed --python "$UV_PYTHON" $clear "$venv" ;;
    esac || {
        echo "Could not create $venv ($choice failed; see above)." >&2
        explain_none
        exit 2
    }
}

case "$1" in
    --create) create "${2:-.venv}" ;;
    "") choose; case $? in 0) ;; 3) exit 2 ;; *) explain_none; exit 2 ;; esac ;;
    *) echo "usage: sh scripts/find-python.sh [--create DIR]" >&2; exit 2 ;;
esac
