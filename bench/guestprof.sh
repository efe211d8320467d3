#!/usr/bin/env bash
# guestprof.sh CELL_FILE [N]: where a cell's time goes inside the sandbox.
# Builds the kernel with wazero's perf map (build tag perfmap) into a
# temporary directory, runs CELL_FILE in it twice through jupyter_client
# (NITER in the cell becomes 1000, then N, default 100000), records the
# second run with perf, and prints the share of each guest function (named
# from the runtime's python.names) and of the Go host's. Needs perf
# (linux-perf); a developer's tool, not part of the test suite. The compiled
# wasm is not taken from the compilation cache (the perf map is written
# while compiling), so start-up takes a few seconds more.
set -euo pipefail
cd "$(dirname "$0")/.."
cell=${1:?usage: bench/guestprof.sh CELL_FILE [N]}
n=${2:-100000}
command -v perf >/dev/null || { echo "guestprof: perf is needed (apt-get install linux-perf)" >&2; exit 1; }
rt=${WASMPY_RUNTIME:-$HOME/.cache/wasmpy/runtime/current}
names=$(ls -t "$HOME"/.cache/wasmpy/stages/cpython-*/out/python.names 2>/dev/null | head -1 || true)
[ -n "$names" ] || { echo "guestprof: no python.names: build the runtime (wasmpy/build/build-runtime.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -tags perfmap -o "$tmp/bin/wasmpy" ./cmd/kernel
"$tmp/bin/wasmpy" install --prefix "$tmp/k" --name wasmpy-guestprof >/dev/null &
ipid=$!
wait $ipid
# Every process of a perfmap build writes /tmp/perf-PID.map: this one's is empty.
rm -f "/tmp/perf-$ipid.map"
WASMPY_CACHE=$tmp/cache WASMPY_RUNTIME=$rt JUPYTER_PATH=$tmp/k/share/jupyter \
	/usr/bin/python3 - "$cell" "$n" "$tmp/perf.data" <<'PY'
import signal, subprocess, sys, time
import jupyter_client
sys.path.insert(0, "bench")
from cellrun import run_cell
cell, n, out = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
km, kc = jupyter_client.manager.start_new_kernel(kernel_name="wasmpy-guestprof", startup_timeout=120)
def run(code):
    text, error = run_cell(kc, code, timeout=600)
    return text + (error or "")
try:
    print(run(cell.replace("NITER", "1000")), end="")
    pid = km.provisioner.process.pid
    open(out + ".pid", "w").write(str(pid))
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "-p", str(pid), "-o", out],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    print(run(cell.replace("NITER", n)), end="")
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=60)
finally:
    km.shutdown_kernel()
PY
perf report -i "$tmp/perf.data" --sort sym --stdio 2>/dev/null | go run ./bench/guestprof -names "$names" -top "${TOP:-50}"
# wazero's perf map of that kernel process (perf reads it by the pid).
rm -f "/tmp/perf-$(cat "$tmp/perf.data.pid").map"
