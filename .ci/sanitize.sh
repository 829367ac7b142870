#!/usr/bin/env bash
# The test suite against a compiled core built with AddressSanitizer and
# UndefinedBehaviorSanitizer.  Self-contained: a temporary copy of the tree and
# a fresh venv (from $PYTHON or python3), removed on exit; the sanitized .so
# never lands in the source tree.  Exits non-zero on a test failure or on any
# sanitizer report.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

libasan="$(gcc -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
    echo "sanitize: gcc has no libasan.so ($libasan)" >&2
    exit 2
fi

echo "::: copy of the tree and fresh venv in $work"
# Only the files a build needs (no stale in-place .so or generated C, no caches).
copy_tree "$repo" "$work/src"
"$python" -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install --quiet --upgrade pip

echo "::: build with -fsanitize=address,undefined"
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"
CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" SKYFAST_REQUIRE_EXTENSIONS=1 \
    pip install --quiet --no-cache-dir "$work/src[test,reference]"
# The extension now needs the ASan runtime loaded first, in every Python that imports it.
ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$libasan" python -I -c \
    "import skyfast, sys; print('skyfast', skyfast.__version__, skyfast.IMPLEMENTATION); \
sys.exit(skyfast.IMPLEMENTATION != 'cython')"

# GCC 12's ASan crashes inside its crypt() interceptor as soon as the stdlib `crypt`
# module is imported (`import crypt` alone segfaults with the runtime preloaded);
# SkyPilot imports it through passlib, which copes with its absence.  Hide it in
# this venv only; skyfast does not use it.
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo 'import sys; sys.modules.setdefault("crypt", None)' > "$site/zz_sanitize_no_crypt.pth"

echo "::: test suite under the sanitizers"
log="$work/sanitizer.log"
# CPython leaks by design (interned objects at exit): no leak checking.  Reports
# go to $log.<pid> (children included) as well as stderr.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$log"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$log"
status=0
(cd "$work" && LD_PRELOAD="$libasan" SKYFAST_REQUIRE_EXTENSIONS=1 CI=true \
    python -Im pytest "$work/src/tests" -p no:cacheprovider -q "$@") || status=$?

reports=$(cat "$log".* 2>/dev/null || true)
if [ -n "$reports" ]; then
    echo "::: sanitizer reports"
    echo "$reports"
    status=1
fi
echo "::: sanitize.sh finished in $((SECONDS - start)) s, status $status"
exit "$status"
