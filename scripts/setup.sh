#!/usr/bin/env bash
# setup.sh: everything the two README commands share. Installs the Debian
# packages the build and the tests need, builds the runtime (cached), builds the
# wasmpy binary, installs it with its runtime under $PREFIX and registers the
# Jupyter kernelspec (which also warms the compilation cache).
#
#   PREFIX   install prefix (default /usr/local as root, ~/.local otherwise)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$(date +%s)
say() { printf '[setup %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then SUDO=; PREFIX=${PREFIX:-/usr/local}; else SUDO=sudo; PREFIX=${PREFIX:-$HOME/.local}; fi
export DEBIAN_FRONTEND=noninteractive

pkgs=(
	# the runtime build (bookworm's toolchain; trixie sources come through a private apt config)
	clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32 tcl dpkg-dev build-essential pkg-config
	zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev libffi-dev debian-archive-keyring
	# the real Jupyter clients the tests drive
	jupyter-client python3-jupyter-client python3-jupyter-kernel-test jupyter-nbconvert
	jupyter-console jupyter-notebook python3-ipykernel python3-pytest python3-pexpect tmux
	# the browser test
	chromium chromium-driver python3-selenium
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "apt: installing ${#missing[@]} packages: ${missing[*]}"
	$SUDO apt-get update -q >/dev/null || die "apt-get update failed"
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/wasmpy-apt.log 2>&1 ||
		{ tail -n 30 /tmp/wasmpy-apt.log >&2; die "apt-get install failed (see above)"; }
	say "apt: done"
else
	say "apt: all ${#pkgs[@]} packages present"
fi

export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || die "Go is missing: install Go 1.26 or newer (go.mod needs it)"
say "go: $(go version)"

bash wasmpy/build/build-runtime.sh

say "go: building wasmpy"
mkdir -p "$PREFIX/bin" "$PREFIX/share/wasmpy"
go build -trimpath -o "$PREFIX/bin/wasmpy.new" ./cmd/kernel
mv "$PREFIX/bin/wasmpy.new" "$PREFIX/bin/wasmpy"
cache=${WASMPY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmpy}
rt=$(readlink -f "$cache/runtime/current")
rm -rf "$PREFIX/share/wasmpy/runtime.new"
cp -r "$rt" "$PREFIX/share/wasmpy/runtime.new"
rm -rf "$PREFIX/share/wasmpy/runtime"
mv "$PREFIX/share/wasmpy/runtime.new" "$PREFIX/share/wasmpy/runtime"
say "installed $PREFIX/bin/wasmpy and its runtime in $PREFIX/share/wasmpy/runtime"
"$PREFIX/bin/wasmpy" install
say "kernelspec: $(jupyter kernelspec list 2>/dev/null | grep -w wasmpy || echo 'not listed!')"
