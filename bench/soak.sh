#!/usr/bin/env bash
# soak.sh: bench/soak.py, a long run of mixed cells (output, exceptions, rich
# display, update_display, await, pyfetch and js.fetch to a 127.0.0.1 server it
# runs, interrupts) against one kernel, printing the kernel's RSS and cells/s
# as it goes. Kernel: $WASMPY_KERNEL_NAME or wasmpy; arguments are passed on
# (--cells N, --every K, --interrupt-every M, --kernel NAME). Not part of the
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/soak.py "$@"
