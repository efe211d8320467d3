#!/usr/bin/env bash
# build-runtime.sh: builds the wasmpy runtime (python.wasm and lib.zip) from Debian
# packages only, into a cache outside the repository.
#
#   wasmpy/build/build-runtime.sh [--out DIR]
#
# Stages (each cached under $WASMPY_CACHE/stages/NAME-HASH, the hash covering its
# inputs; a stage whose directory lacks a valid .complete manifest is rebuilt):
#   apt        private apt configuration that adds Debian trixie (deb and deb-src)
#   sources    python3.13, zlib, bzip2, xz-utils and sqlite3 source packages (trixie)
#   sysroot    trixie's binary wasi-libc package, unpacked
#   native     a native python3.13 from the same source (the build python)
#   libs       zlib, bzip2, liblzma and sqlite3 compiled to wasm32-wasi
#   cpython    python.wasm (reactor model, with the _wasmpy host module built in)
#   purelibs   trixie's Architecture: all .debs of IPython and its dependencies, tzdata
#   stdlib     the standard library and packages, .pyc compiled, zipped as lib.zip
#
# The host's apt configuration is never changed. Needs: clang-19 lld-19 llvm-19
# libclang-rt-19-dev-wasm32 tcl dpkg-dev build-essential pkg-config (the script says
# which one is missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${WASMPY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmpy}
out=""
jobs=${WASMPY_JOBS:-$(nproc)}
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--out=*) out=${1#--out=}; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "build-runtime: unknown argument $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$cache/stages" "$cache/logs"
t0=$(date +%s)

say() { printf '[runtime %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
die() { printf 'build-runtime: error: %s\n' "$*" >&2; exit 1; }

# --- required host tools -------------------------------------------------------------
need() { # need COMMAND APT-PACKAGE
	command -v "$1" >/dev/null 2>&1 ||
		die "missing '$1': install the apt package $2 (apt-get install -y $2)"
}
need clang-19 clang-19
need wasm-ld-19 lld-19
need llvm-ar-19 llvm-19
need llvm-ranlib-19 llvm-19
need llvm-strip-19 llvm-19
need llvm-objcopy-19 llvm-19
need tclsh tcl
need dpkg-source dpkg-dev
need make make
need gcc build-essential
need pkg-config pkg-config
need sha256sum coreutils
for f in /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a; do
	[ -f "$f" ] || die "missing $f: install the apt package libclang-rt-19-dev-wasm32"
done

# --- stage machinery -----------------------------------------------------------------
# stage NAME FUNCTION INPUT...: runs FUNCTION DIR unless a verified cache exists for the
# hash of the inputs (strings, or files whose contents count), then sets stage_NAME=DIR.
stage() {
	local name=$1 fn=$2; shift 2
	local h
	h=$( {
		echo "stage-format 2 $name"
		declare -f "$fn"
		for i in "$@"; do
			# a file counts by its content, not its path (stage paths carry hashes)
			if [ -f "$i" ]; then sha256sum < "$i"; else echo "$i"; fi
		done
	} | sha256sum | cut -c1-16)
	local dir="$cache/stages/$name-$h"
	if [ -f "$dir/.complete" ]; then
		if (cd "$dir" && sha256sum --quiet --strict -c .complete >/dev/null 2>&1); then
			say "$name: cached ($name-$h)"
			printf -v "stage_$name" '%s' "$dir"
			return 0
		fi
		say "$name: cache is corrupt, rebuilding"
	elif [ -d "$dir" ]; then
		say "$name: cache is partial, rebuilding"
	fi
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	local s log="$cache/logs/$name.log"
	s=$(date +%s)
	say "$name: building (log: $log)"
	# Not in a condition: there bash would ignore set -e inside the function.
	local rc
	set +e
	( set -e; "$fn" "$dir.tmp" ) >"$log" 2>&1
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		tail -n 40 "$log" >&2
		die "stage '$name' failed; the full log is $log"
	fi
	(cd "$dir.tmp" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) > "$dir.manifest"
	mv "$dir.manifest" "$dir.tmp/.complete"
	mv "$dir.tmp" "$dir"
	say "$name: done in $(( $(date +%s) - s ))s, $(du -sh "$dir" | cut -f1)"
	printf -v "stage_$name" '%s' "$dir"
	# Older builds of the same stage are no longer needed.
	find "$cache/stages" -maxdepth 1 -name "$name-*" ! -name "$name-$h" -exec rm -rf {} + 2>/dev/null || true
}

# --- apt: a private configuration for trixie --------------------------------------------
# The mirror is the one the host already uses for Debian (read from its apt sources).
mirror=$(
	{ cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
		awk 'BEGIN{RS="";FS="\n"} /Suites:[^\n]*bookworm( |$|\n|-updates)/ && !/security/ {
			for(i=1;i<=NF;i++) if ($i ~ /^URIs:/) { sub(/^URIs: */,"",$i); split($i,a," "); print a[1]; exit } }'
)
if [ -z "$mirror" ]; then
	mirror=$(grep -hE '^deb +[^ ]+ +bookworm +' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{print $2; exit}' || true)
fi
[ -n "$mirror" ] || die "could not find the host's Debian mirror in its apt sources"
aptdir=$cache/apt
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "missing $keyring: install the apt package debian-archive-keyring"
mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$aptdir/parts"
cat > "$aptdir/sources.list" <<EOF
deb [signed-by=$keyring] $mirror trixie main
deb-src [signed-by=$keyring] $mirror trixie main
EOF
aptopts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o "Dir::Etc::SourceParts=$aptdir/parts"
	-o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
	-o "Dir::Cache::archives=$aptdir/archives" -o "Debug::NoLocking=1"
	-o "APT::Get::List-Cleanup=0" -o "Acquire::Languages=none")
tapt() { apt-get "${aptopts[@]}" "$@"; }
# retry CMD...: a registry answers now and then with a transient error.
retry() {
	local try
	for try in 1 2 3; do
		"$@" && return 0
		echo "retrying ($try): $*" >&2
		sleep $((try * 3))
	done
	return 1
}
tcache() { apt-cache "${aptopts[@]}" "$@"; }
# Refresh the private lists once a day (and whenever they are missing).
if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Sources*' -mtime -1 2>/dev/null)" ]; then
	say "apt: updating the private trixie package lists"
	tapt -q update >"$cache/logs/apt-update.log" 2>&1 ||
		{ tail -n 20 "$cache/logs/apt-update.log" >&2; die "apt update for trixie failed"; }
fi
srcver() { tcache showsrc "$1" 2>/dev/null | awk '/^Version:/{print $2}' | sort -V | tail -n 1; }
binver() { tcache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2}'; }

py_ver=$(srcver python3.13); [ -n "$py_ver" ] || die "trixie source package python3.13 not found"
zlib_ver=$(srcver zlib); bz_ver=$(srcver bzip2); xz_ver=$(srcver xz-utils); sq_ver=$(srcver sqlite3)
wasi_ver=$(binver wasi-libc); [ -n "$wasi_ver" ] || die "trixie package wasi-libc not found"
say "trixie: python3.13 $py_ver, zlib $zlib_ver, bzip2 $bz_ver, xz-utils $xz_ver, sqlite3 $sq_ver, wasi-libc $wasi_ver"

# --- sources ---------------------------------------------------------------------------
# fetch_orig PKG=VERSION DIR: download the upstream tarball of a source
# package, checked against the SHA-256 of the signed Sources index (only that
# file: the mirror sometimes lacks a point release's .dsc or Debian diff).
fetch_orig() {
	local spec=$1 dir=$2 line url name hash try
	line=$(cd "$dir" && tapt -qq --print-uris source "$spec" 2>/dev/null |
		grep -E "^'[^']+' [^ ]+\.orig\.tar\.[a-z0-9]+ " | head -n 1)
	[ -n "$line" ] || { echo "no upstream tarball listed for $spec" >&2; return 1; }
	url=$(echo "$line" | cut -d"'" -f2)
	name=$(echo "$line" | awk '{print $2}')
	hash=$(echo "$line" | awk '{print $4}')
	for try in 1 2 3; do
		/usr/lib/apt/apt-helper -o "Acquire::Languages=none" download-file "$url" "$dir/$name" "$hash" && return 0
		echo "download of $name failed (try $try)" >&2
		sleep $((try * 3))
	done
	return 1
}

build_sources() {
	local d=$1 p v tb
	mkdir -p "$d/dl"
	for p in python3.13="$py_ver" zlib="$zlib_ver" bzip2="$bz_ver" xz-utils="$xz_ver" sqlite3="$sq_ver"; do
		fetch_orig "$p" "$d/dl"
	done
	for p in python3.13 zlib bzip2 xz-utils sqlite3; do
		tb=$(ls "$d/dl/${p}_"*.orig.tar.* | grep -v '\.asc$' | head -n 1)
		mkdir -p "$d/$p"
		tar -xf "$tb" -C "$d/$p" --strip-components=1
	done
	rm -rf "$d/dl"
}
stage sources build_sources "$py_ver $zlib_ver $bz_ver $xz_ver $sq_ver"
src=$stage_sources

# --- sysroot ---------------------------------------------------------------------------
build_sysroot() {
	local d=$1
	(cd "$d" && retry tapt -q download wasi-libc="$wasi_ver")
	dpkg-deb -x "$d"/wasi-libc_*.deb "$d/root"
	rm -f "$d"/wasi-libc_*.deb
	test -f "$d/root/usr/include/wasm32-wasi/stdio.h" || test -f "$d/root/usr/include/stdio.h"
}
stage sysroot build_sysroot "$wasi_ver"
sysroot=$stage_sysroot/root/usr

# wasi-libc's Debian layout keeps headers and libs under a target triple directory.
wasi_cflags=(--target=wasm32-wasi --sysroot="$sysroot")
if [ -d "$sysroot/include/wasm32-wasi" ]; then
	wasi_cflags+=(-isystem "$sysroot/include/wasm32-wasi" -L"$sysroot/lib/wasm32-wasi")
fi

# --- native build python ---------------------------------------------------------------
build_native() {
	local d=$1
	cp -a "$src/python3.13" "$d/src"
	cd "$d/src"
	./configure --prefix="$d/install" --without-ensurepip >/dev/null
	make -j"$jobs"
	make install >/dev/null
	rm -rf "$d/src"
	"$d/install/bin/python3.13" -c 'import sys, zlib; print(sys.version)'
}
stage native build_native "$src/python3.13/Include/patchlevel.h" "$py_ver"
native_py=$stage_native/install/bin/python3.13

# --- wasm extension libraries -----------------------------------------------------------
tool_dir=$cache/tools
mkdir -p "$tool_dir"
cat > "$tool_dir/wasm-cc" <<EOF
#!/bin/sh
exec clang-19 ${wasi_cflags[*]} -Wno-unused-command-line-argument "\$@"
EOF
chmod +x "$tool_dir/wasm-cc"

build_libs() {
	local d=$1
	local p=$d/prefix
	mkdir -p "$p/lib/pkgconfig" "$p/include" "$d/b"
	local CC=$tool_dir/wasm-cc AR=llvm-ar-19 RANLIB=llvm-ranlib-19
	local CF="-Os -fPIC"
	# zlib
	cp -a "$src/zlib" "$d/b/zlib"
	(cd "$d/b/zlib" && CC=$CC AR=$AR RANLIB=$RANLIB CFLAGS="$CF" CHOST=wasm32 \
		./configure --static --prefix="$p" && make -j"$jobs" libz.a && make install)
	# bzip2 (no configure)
	cp -a "$src/bzip2" "$d/b/bzip2"
	(cd "$d/b/bzip2" && make -j"$jobs" libbz2.a CC="$CC" AR="$AR" RANLIB="$RANLIB" CFLAGS="$CF -D_FILE_OFFSET_BITS=64" &&
		cp libbz2.a "$p/lib/" && cp bzlib.h "$p/include/")
	cat > "$p/lib/pkgconfig/bzip2.pc" <<PC
prefix=$p
Name: bzip2
Description: bzip2 for wasm32-wasi
Version: 1.0.8
Libs: -L\${prefix}/lib -lbz2
Cflags: -I\${prefix}/include
PC
	# xz / liblzma
	cp -a "$src/xz-utils" "$d/b/xz"
	(cd "$d/b/xz" && CC=$CC AR=$AR RANLIB=$RANLIB CFLAGS="$CF" ./configure --host=wasm32-unknown-wasi \
		--prefix="$p" --enable-static --disable-shared --disable-threads --disable-xz \
		--disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-scripts --disable-doc \
		--disable-nls --disable-sandbox && make -j"$jobs" -C src/liblzma && make -C src/liblzma install)
	# sqlite3: the amalgamation is generated natively (needs tclsh), compiled for wasm.
	# Temporary files (a sort that spills, as CREATE INDEX on 100k rows does)
	# stay in memory: sqlite's temp-file path trapped in WASI.
	cp -a "$src/sqlite3" "$d/b/sqlite"
	(cd "$d/b/sqlite" && mkdir -p native && cd native && ../configure >/dev/null &&
		make sqlite3.c >/dev/null &&
		"$CC" $CF -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_SHARED_CACHE \
			-DSQLITE_OMIT_WAL -DSQLITE_OMIT_RANDOMNESS=0 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_JSON1 \
			-DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_TEMP_STORE=3 -c sqlite3.c -o sqlite3.o &&
		$AR rcs "$p/lib/libsqlite3.a" sqlite3.o && cp sqlite3.h sqlite3ext.h "$p/include/")
	local sqv
	sqv=$(awk -F'"' '/#define SQLITE_VERSION /{print $2}' "$p/include/sqlite3.h")
	cat > "$p/lib/pkgconfig/sqlite3.pc" <<PC
prefix=$p
Name: SQLite
Description: SQLite for wasm32-wasi
Version: $sqv
Libs: -L\${prefix}/lib -lsqlite3
Cflags: -I\${prefix}/include
PC
	rm -rf "$d/b" "$p/share" "$p/bin"
	# pkg-config files must not point into the temporary stage directory.
	sed -i "s|$d|@PREFIX@|g" "$p"/lib/pkgconfig/*.pc
}
stage libs build_libs "$src/zlib/zlib.h" "$src/bzip2/bzlib.h" "$src/xz-utils/configure" \
	"$src/sqlite3/VERSION" "${wasi_cflags[*]}" "$tool_dir/wasm-cc"
libs=$stage_libs/prefix
# Relocate the .pc files to the stage's final directory in a private copy.
pcdir=$cache/tools/pkgconfig
rm -rf "$pcdir"; mkdir -p "$pcdir"
for f in "$libs"/lib/pkgconfig/*.pc; do sed "s|@PREFIX@|$stage_libs|g" "$f" > "$pcdir/$(basename "$f")"; done

# --- CPython for wasm32-wasi -------------------------------------------------------------
csrc=$here/../csrc
build_cpython() {
	local d=$1
	cp -a "$src/python3.13" "$d/src"
	cd "$d/src"
	cp "$csrc"/*.c "$csrc"/*.h Modules/
	# makesetup reads Setup.local from the build directory.
	mkdir -p "$d/build/Modules" && cd "$d/build"
	printf '*static*\n_wasmpy wasmpymodule.c jsref.c\n' > Modules/Setup.local
	# config.site: CPython's own for WASI plus what wazero needs (no absolute-time sleep).
	cp ../src/Tools/wasm/config.site-wasm32-wasi config.site
	cat >> config.site <<'SITE'
ac_cv_func_clock_nanosleep=no
ac_cv_lib_rt_clock_nanosleep=no
SITE
	CONFIG_SITE=$PWD/config.site \
	CC=$tool_dir/wasm-cc CPP="$tool_dir/wasm-cc -E" AR=llvm-ar-19 RANLIB=llvm-ranlib-19 \
	PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH= \
	../src/configure --host=wasm32-unknown-wasi --build=x86_64-pc-linux-gnu \
		--with-build-python="$native_py" --prefix=/usr --disable-test-modules \
		--without-ensurepip --without-system-libmpdec --without-system-expat \
		--with-pymalloc
	# CPython's bundled libraries (libmpdec, expat, HACL*) for size; the interpreter keeps -O3.
	sed -i -E 's/^(LIBMPDEC|LIBEXPAT|LIBHACL)_CFLAGS=.*/& -Os/' Makefile
	# and the extension modules that are not part of the interpreter's core.
	sed -i -E 's/(\$\(MODULE_(_DECIMAL|_PICKLE|_DATETIME|_ELEMENTTREE|CMATH|PYEXPAT|_ASYNCIO|_SQLITE3|_LZMA|_BZ2|ZLIB|UNICODEDATA|_CSV|_MD5|_SHA1|_SHA2|_SHA3|_BLAKE2|_ZONEINFO)_CFLAGS\) \$\(PY_BUILTIN_MODULE_CFLAGS\))/\1 -Os/' Makefile
	make -j"$jobs"
	local m missing=""
	for m in ZLIB _BZ2 _LZMA _SQLITE3 _DECIMAL PYEXPAT _ELEMENTTREE _JSON _PICKLE _STRUCT \
		_DATETIME _ZONEINFO BINASCII UNICODEDATA ARRAY MATH CMATH _RANDOM SELECT _ASYNCIO _CSV \
		_MD5 _SHA1 _SHA2 _SHA3 _BLAKE2; do
		grep -q "^MODULE_${m}_STATE=yes" Makefile || missing+=" $m"
	done
	[ -z "$missing" ] || { echo "required modules not built:$missing (see config.log)" >&2; return 1; }
	# Relink the same objects as a WASI reactor (no main; the interpreter stays
	# alive between calls from the host), with CPython's own link flags.
	printf 'print-%%:\n\t@echo $($*)\n' > print.mk

	v() { make -s -f Makefile -f print.mk "print-$1"; }
	$(v LINKCC) $(v PY_CORE_LDFLAGS) $(v LINKFORSHARED) -mexec-model=reactor \
		-o python-reactor.wasm $(v LINK_PYTHON_OBJS) $(v LIBS) $(v MODLIBS) $(v SYSLIBS) \
		-Wl,--export=malloc -Wl,--export=free -Wl,-u,wasmpy_init -Wl,-u,wasmpy_exec \
		-Wl,--strip-debug -Wl,--compress-relocations \
		-Wl,-u,wasmpy_dispatch -Wl,-u,wasmpy_signal_addr
	local size
	size=$(stat -c %s python-reactor.wasm)
	[ "$size" -gt 4000000 ] || { echo "python-reactor.wasm is only $size bytes: link failed" >&2; return 1; }
	grep -q PyInit__wasmpy python-reactor.wasm || { echo "_wasmpy is not built in" >&2; return 1; }
	mkdir -p "$d/out"
	llvm-strip-19 -o "$d/out/python.wasm" python-reactor.wasm
	# The function names alone, for profiling the guest (bench/guestprof.sh).
	llvm-objcopy-19 --only-section=name python-reactor.wasm "$d/out/python.names"
	make install DESTDIR="$d/install" >/dev/null
	rm -rf "$d/src"
	find "$d/build" -mindepth 1 -maxdepth 1 ! -name 'config.log' -exec rm -rf {} +
}
stage cpython build_cpython "$csrc/wasmpymodule.c" "$csrc/jsref.c" "$csrc/wasmpy.h" "$src/python3.13/Include/patchlevel.h" \
	"$stage_libs" "$native_py" "${wasi_cflags[*]}"
say "python.wasm: $(du -h "$stage_cpython/out/python.wasm" | cut -f1)"

# --- pure-Python packages and the tz database (trixie, Architecture: all) ---------------
purepkgs=(python3-ipython python3-traitlets python3-jedi python3-parso python3-typeshed
	python3-pygments python3-prompt-toolkit python3-wcwidth python3-decorator
	python3-matplotlib-inline python3-stack-data python3-executing python3-asttokens
	python3-pure-eval python3-pexpect python3-ptyprocess python3-comm
	python3-typing-extensions python3-ipywidgets python3-widgetsnbextension
	python3-jupyterlab-widgets python3-pickleshare python3-requests python3-urllib3
	python3-idna python3-certifi python3-chardet
	python3-packaging python3-dateutil python3-tz python3-pytz python3-six python3-attr
	python3-tabulate python3-tqdm python3-bs4 python3-soupsieve python3-more-itertools
	python3-toolz tzdata)
pure_spec=()
for p in "${purepkgs[@]}"; do
	v=$(binver "$p"); [ -n "$v" ] || die "trixie package $p not found"
	pure_spec+=("$p=$v")
done
build_purelibs() {
	local d=$1
	mkdir -p "$d/debs" "$d/root"
	(cd "$d/debs" && retry tapt -q download "${pure_spec[@]}")
	local f arch
	for f in "$d"/debs/*.deb; do
		arch=$(dpkg-deb -f "$f" Architecture)
		[ "$arch" = all ] || { echo "$f is Architecture: $arch, not all" >&2; return 1; }
		dpkg-deb -x "$f" "$d/root"
	done
	rm -rf "$d/debs"
	mkdir -p "$d/site-packages" "$d/zoneinfo"
	cp -a "$d"/root/usr/lib/python3/dist-packages/. "$d/site-packages/"
	cp -a "$d"/root/usr/share/zoneinfo/. "$d/zoneinfo/"
	# typeshed's stubs serve jedi; Debian installs them outside dist-packages.
	if [ -d "$d/root/usr/share/typeshed" ]; then
		mkdir -p "$d/typeshed" && cp -a "$d/root/usr/share/typeshed/." "$d/typeshed/"
	fi
	rm -rf "$d/root"
	find "$d" -name '__pycache__' -type d -prune -exec rm -rf {} +
}
stage purelibs build_purelibs "${pure_spec[*]}"

# --- the sandbox's file tree, zipped ------------------------------------------------------
build_stdlib() {
	local d=$1
	local t=$d/tree
	mkdir -p "$t/lib"
	cp -a "$stage_cpython/install/usr/lib/python3.13" "$t/lib/"
	local L=$t/lib/python3.13
	rm -rf "$L/test" "$L/idlelib" "$L/tkinter" "$L/turtledemo" "$L/ensurepip" \
		"$L/lib2to3" "$L/config-3.13-wasm32-wasi" "$L/turtle.py" "$L/__phello__"
	find "$L" -name '__pycache__' -type d -prune -exec rm -rf {} +
	mkdir -p "$L/site-packages"
	cp -a "$stage_purelibs/site-packages/." "$L/site-packages/"
	if [ -d "$stage_purelibs/typeshed" ]; then
		mkdir -p "$t/share/typeshed" && cp -a "$stage_purelibs/typeshed/." "$t/share/typeshed/"
	fi
	mkdir -p "$t/share/zoneinfo"
	cp -a "$stage_purelibs/zoneinfo/." "$t/share/zoneinfo/"
	# .pyc with unchecked hashes: the tree is read-only and never changes under them.
	"$native_py" -m compileall -q -j "$jobs" --invalidation-mode unchecked-hash \
		-d /usr/lib/python3.13 "$L" -x 'site-packages' || true
	"$native_py" -m compileall -q -j "$jobs" --invalidation-mode unchecked-hash \
		-d /usr/lib/python3.13/site-packages "$L/site-packages" || true
	# CPython's own test suite, for the regression run inside the sandbox (not installed).
	mkdir -p "$d/tests/test"
	cp -a "$src/python3.13/Lib/test/." "$d/tests/test/"
	"$native_py" -m compileall -q -j "$jobs" --invalidation-mode unchecked-hash \
		-d /opt/cpython-tests/test "$d/tests/test" >/dev/null 2>&1 || true
	# One file: entries stored (not deflated) so the host reads them without inflating.
	"$native_py" "$here/mkzip.py" "$d/tests" "$d/tests.zip"
	rm -rf "$d/tests"
	"$native_py" "$here/mkzip.py" "$t" "$d/lib.zip"
	rm -rf "$t"
}
stage stdlib build_stdlib "$stage_cpython" "$stage_purelibs" "$native_py" "$here/mkzip.py" "$src/python3.13/Lib/test/__init__.py"

# --- the runtime directory -------------------------------------------------------------
runtime_id=$(cat "$stage_cpython/out/python.wasm" "$stage_stdlib/lib.zip" | sha256sum | cut -c1-16)
rt=$cache/runtime/$runtime_id
if [ ! -f "$rt/manifest.json" ]; then
	rm -rf "$rt.tmp"; mkdir -p "$rt.tmp"
	cp "$stage_cpython/out/python.wasm" "$stage_stdlib/lib.zip" "$stage_stdlib/tests.zip" "$rt.tmp/"
	cat > "$rt.tmp/manifest.json" <<JSON
{
  "id": "$runtime_id",
  "python": "$py_ver",
  "wasi_libc": "$wasi_ver",
  "zlib": "$zlib_ver", "bzip2": "$bz_ver", "xz_utils": "$xz_ver", "sqlite3": "$sq_ver",
  "packages": "$(printf '%s ' "${pure_spec[@]}" | sed 's/ $//')"
}
JSON
	rm -rf "$rt"; mv "$rt.tmp" "$rt"
fi
ln -sfn "$runtime_id" "$cache/runtime/current"
say "runtime $runtime_id: python.wasm $(du -h "$rt/python.wasm" | cut -f1), lib.zip $(du -h "$rt/lib.zip" | cut -f1)"
if [ -n "$out" ]; then
	mkdir -p "$out"
	# Each file replaced by a rename, never rewritten in place: a running
	# kernel maps python.wasm.
	for f in python.wasm lib.zip manifest.json; do
		cp "$rt/$f" "$out/.$f.tmp"
		mv -f "$out/.$f.tmp" "$out/$f"
	done
	say "runtime copied to $out"
fi
say "done: $rt"
