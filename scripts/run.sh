#!/usr/bin/env bash
# run.sh: build and install the kernel (runtime included), then run its main
# job: execute the tour notebook headless with the wasmpy kernel and show what
# it produced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
out=${WASMPY_OUT:-$PWD/out}
mkdir -p "$out"
nb=notebooks/tour.ipynb
echo "== executing $nb with the wasmpy kernel"
start=$(date +%s%3N)
jupyter nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=wasmpy \
	--ExecutePreprocessor.timeout=120 --output-dir "$out" "$nb"
end=$(date +%s%3N)
echo "== executed in $(( (end - start) / 1000 )).$(( (end - start) % 1000 / 100 )) s: $out/$(basename "$nb")"
/usr/bin/python3 scripts/show_notebook.py "$out/$(basename "$nb")"
