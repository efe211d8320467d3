#!/usr/bin/env bash
# kernel.sh: the kernel benchmarks of ../shared/bench for wasmpy and, in the
# same run, ipykernel (kernelspec python3), then the start-up benchmark
# (bench/startup.py) and the runtime figures (bench/runtime; compute.py also
# in Pyodide under Node when npm is there). Prints the figures; JSON results
# go to bench/results/.
# Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${WASMPY_SHARED:-$PWD/../shared}
out=bench/results
mkdir -p "$out"
py=/usr/bin/python3
for k in wasmpy python3; do
	echo "== kernel_bench: $k"
	$py "$shared/bench/kernel_bench.py" --kernel "$k" --starts 5 --n-exec 300 --out "$out/kernel-$k.json" \
		| $py -c '
import json, sys
r = json.load(sys.stdin)
def g(*ks):
    v = r
    for k in ks:
        v = v.get(k, {}) if isinstance(v, dict) else {}
    return v
print(json.dumps({k: r[k] for k in r if k in ("cold_start", "execute_pass", "execute_result", "stream", "complete")}, indent=1)[:3000])'
	echo "== nbconvert_bench: $k"
	$py "$shared/bench/nbconvert_bench.py" --kernel "$k" --runs 3 --out "$out/nbconvert-$k.json" | tail -n 5
done
echo "== the client's own share: a kernel that answers at once, beside wasmpy and ipykernel"
$py bench/floor.py --kernels wasmpy,python3
echo "== startup: process start to the first 1+1 result, with a profile"
$py bench/startup.py --runs 5
if command -v npm >/dev/null && [ ! -d bench/pyodide/node_modules/pyodide ]; then
	echo "== npm: pyodide for the compute comparison"
	npm install --no-package-lock --no-audit --no-fund --prefix bench/pyodide >/dev/null
fi
echo "== runtime"
go run ./bench/runtime -compute "$shared/bench/compute.py" -repeat 3
