#!/usr/bin/env bash
# Runs the wasmpy_kernel tests natively, with the fake _wasmpy in this directory,
# on the native build of the sandbox's CPython and the sandbox's pure-Python
# packages (both made by wasmpy/build/build-runtime.sh):
#
#   wasmpy/python/tests/run.sh [unittest args...]
#
# PYTHON and SITE override the interpreter and the site-packages directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${WASMPY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmpy}
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; }
py=${PYTHON:-$(first "$cache"/stages/native-*/install/bin/python3.13)}
site=${SITE:-$(first "$cache"/stages/purelibs-*/site-packages)}
[ -n "$py" ] || { echo "run.sh: no native python3.13 under $cache/stages (run build-runtime.sh)" >&2; exit 2; }
[ -n "$site" ] || { echo "run.sh: no purelibs site-packages under $cache/stages (run build-runtime.sh)" >&2; exit 2; }
cd "$here"
export PYTHONPATH="$here:$(dirname "$here"):$site"
export PYTHONDONTWRITEBYTECODE=1 PYTHONWARNINGS=${PYTHONWARNINGS:-default}
exec timeout 600 "$py" -m unittest "${@:--v}"
