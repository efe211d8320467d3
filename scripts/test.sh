#!/usr/bin/env bash
# test.sh: the whole test suite, from nothing. Sets up (scripts/setup.sh), then
# runs the Go tests (unit, runtime, protocol), the fuzz targets for a bounded
# time, and the end-to-end tests that drive the installed kernel with the real
# Jupyter clients (tests/, pytest under Debian's /usr/bin/python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH=/usr/local/go/bin:$PATH
if [ "$(id -u)" = 0 ]; then PREFIX=${PREFIX:-/usr/local}; else PREFIX=${PREFIX:-$HOME/.local}; fi
export WASMPY_BIN=$PREFIX/bin/wasmpy

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 20m ./...
echo "== fuzz (bounded)"
for pkg in ./messaging/ ./wasmpy/; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		echo "fuzz $pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime=15s "$pkg" 2>&1 | tail -n 2
	done
done
echo "== the kernel's Python side, natively (wasmpy/python/tests)"
bash wasmpy/python/tests/run.sh -q
echo "== end-to-end (real Jupyter clients)"
/usr/bin/python3 -m pytest -v -p no:cacheprovider tests/
