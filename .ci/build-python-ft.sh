#!/usr/bin/env bash
# Build a free-threaded CPython 3.13 ("3.13t", configured with --disable-gil) at a fixed
# prefix, without touching python.org: the source tarball comes from the Debian archive
# (trixie's python3.13_3.13.5.orig.tar.xz, byte-identical to Python-3.13.5.tar.xz --
# same SHA-256 as pyenv's 3.13.5 definition) and is fed to pyenv's python-build through
# PYTHON_BUILD_CACHE_PATH, so python-build never downloads anything.  No PGO/LTO.
#
#   .ci/build-python-ft.sh [PREFIX]
#
# PREFIX defaults to ${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}/python-3.13t.
# Idempotent: if PREFIX/bin/python3.13t already exists and reports free-threading, it is
# reused and nothing is built.  Non-interactive; exits non-zero on any failure.
#
# Environment knobs:
#   SKYFAST_CACHE            cache root (tarball goes to $SKYFAST_CACHE/src)
#   SKYFAST_BUILD_JOBS       make -j value (default 2)
#   SKYFAST_PY_FT_TARBALL_URL  where to fetch the source tarball from
#   PYENV_ROOT               where pyenv (and its python-build plugin) lives
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"

PY_VERSION=3.13.5
PY_SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
PY_DEFINITION="${PY_VERSION}t"     # pyenv definition: PYTHON_BUILD_FREE_THREADING=1 + 3.13.5
TARBALL_URL="${SKYFAST_PY_FT_TARBALL_URL:-https://deb.debian.org/debian/pool/main/p/python3.13/python3.13_${PY_VERSION}.orig.tar.xz}"

cache="${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}"
prefix="${1:-$cache/python-3.13t}"
jobs="${SKYFAST_BUILD_JOBS:-2}"
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
exe="$prefix/bin/python3.13t"
marker="$prefix/.skyfast-build-incomplete"

t_all=$SECONDS

# True if $1 is a working free-threaded 3.13 interpreter (GIL disabled at build and run time).
is_free_threaded() {
    [ -x "$1" ] || return 1
    "$1" -c '
import sys, sysconfig
ok = (sys.version_info[:2] == (3, 13)
      and sysconfig.get_config_var("Py_GIL_DISABLED") == 1
      and hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled())
sys.exit(0 if ok else 1)' >/dev/null 2>&1
}

report() {
    "$exe" -c 'import sys, sysconfig; print(sys.version); print("Py_GIL_DISABLED =", sysconfig.get_config_var("Py_GIL_DISABLED")); print("GIL enabled     =", sys._is_gil_enabled())'
}

# ---------------------------------------------------------------- reuse
if [ ! -e "$marker" ] && is_free_threaded "$exe"; then
    echo "::: reusing free-threaded Python at $prefix"
    report
    exit 0
fi
if [ -e "$prefix" ]; then
    if [ -e "$marker" ] || [ -z "$(ls -A "$prefix")" ]; then
        echo "::: removing incomplete previous build at $prefix"
        rm -rf "$prefix"
    else
        die "$prefix exists but holds no free-threaded python3.13t (and is not an incomplete build of this script); remove it or pick another PREFIX"
    fi
fi

# ---------------------------------------------------------------- build dependencies
step "build dependencies"
need=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev libbz2-dev libreadline-dev \
           libsqlite3-dev libffi-dev liblzma-dev uuid-dev libncurses-dev xz-utils curl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "::: installing: ${need[*]}"
    command -v apt-get >/dev/null || die "apt-get not available to install ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
else
    echo "::: all present"
fi

# ---------------------------------------------------------------- python-build
step "locate python-build"
python_build="$pyenv_root/plugins/python-build/bin/python-build"
[ -x "$python_build" ] || python_build="$(command -v python-build || true)"
{ [ -n "$python_build" ] && [ -x "$python_build" ]; } || die "python-build not found (looked in $pyenv_root/plugins/python-build/bin and PATH)"
"$python_build" --definitions | grep -qx "$PY_DEFINITION" || die "python-build at $python_build has no '$PY_DEFINITION' definition; update pyenv"
echo "::: $python_build ($("$python_build" --version 2>/dev/null || echo unknown version))"

# ---------------------------------------------------------------- source tarball
step "source tarball"
src="$cache/src"
tarball="$src/Python-$PY_VERSION.tar.xz"   # the name python-build looks for in its cache
mkdir -p "$src"
if [ -f "$tarball" ] && echo "$PY_SHA256  $tarball" | sha256sum -c --status; then
    echo "::: cached $tarball"
else
    echo "::: fetching $TARBALL_URL"
    curl -fsSL --retry 3 -o "$tarball.part" "$TARBALL_URL"
    echo "$PY_SHA256  $tarball.part" | sha256sum -c --status \
        || { rm -f "$tarball.part"; die "SHA-256 mismatch for $TARBALL_URL (want $PY_SHA256)"; }
    mv "$tarball.part" "$tarball"
fi

# ---------------------------------------------------------------- build + install
step "python-build $PY_DEFINITION (configure --disable-gil, make -j$jobs, install)"
mkdir -p "$prefix"
touch "$marker"
build_tmp="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-pyft.XXXXXX")"
trap 'rm -rf "$build_tmp"' EXIT
log="$cache/python-3.13t-build.log"
# python-build removes the symlinked tarball after unpacking, never the cached file.
if ! env -u MAKEOPTS -u PYTHON_CONFIGURE_OPTS -u PYTHON_CFLAGS \
        PYTHON_BUILD_CACHE_PATH="$src" \
        PYTHON_BUILD_SKIP_MIRROR=1 \
        PYTHON_BUILD_BUILD_PATH="$build_tmp" \
        PYTHON_BUILD_FREE_THREADING=1 \
        PYTHON_CONFIGURE_OPTS="--disable-gil" \
        MAKE_OPTS="-j$jobs" \
        TMPDIR="$build_tmp" \
        "$python_build" --verbose "$PY_DEFINITION" "$prefix" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "python-build failed (full log: $log); $prefix left marked incomplete"
fi
echo "::: log: $log"

# ---------------------------------------------------------------- verify
step "verify"
is_free_threaded "$exe" || { report || true; die "$exe is not a free-threaded 3.13"; }
"$exe" -c 'import ssl, sqlite3, zlib, bz2, lzma, ctypes, readline, uuid, hashlib, pip; print("::: stdlib extensions OK; OpenSSL:", ssl.OPENSSL_VERSION, "; pip", pip.__version__)' \
    || die "$exe lacks a required stdlib extension (see $log)"
rm -f "$marker"
report
step ""
echo "::: free-threaded Python ready at $prefix (total $((SECONDS - t_all))s)"
