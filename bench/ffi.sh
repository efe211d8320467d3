#!/usr/bin/env bash
# ffi.sh: ../shared/bench/ffi_bench.py inside the wasmpy kernel (JS FFI costs,
# awaiting Promises, pyfetch and js.fetch to a 127.0.0.1 server that
# kernel_bench.py starts), through a temporary kernelspec allowed to reach
# 127.0.0.1. Prints the figures; not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${WASMPY_SHARED:-$PWD/../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasmpy install --prefix "$tmp" --name wasmpy-bench-net --allow-net=127.0.0.1 >/dev/null
JUPYTER_PATH=$tmp/share/jupyter /usr/bin/python3 "$shared/bench/kernel_bench.py" --kernel wasmpy-bench-net \
	--starts 1 --n-exec 20 --n-small 5 --lines 1000 --stream-runs 1 --no-rawzmq \
	--ffi-file "$shared/bench/ffi_bench.py" --out "$tmp/ffi.json" >/dev/null
/usr/bin/python3 - "$tmp/ffi.json" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))["ffi_in_kernel"]["result"]["bench"]
for name, v in bench.items():
    if "per_request_ms" in v:
        print(f"{name:34} {v['per_request_ms']:10.3f} ms per request")
    else:
        print(f"{name:34} {v.get('per_op_minus_loop_us', v['per_op_us']):10.3f} us per op")
PY
