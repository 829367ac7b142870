#!/usr/bin/env bash
# Test the manylinux2014 aarch64 wheels (.ci/build-wheels.sh's output) on
# Debian's arm64 CPythons, under qemu-aarch64-static user-mode emulation, on an
# x86_64 machine -- without Docker, without installing anything through apt.
#
#   .ci/qemu-aarch64.sh WHEELHOUSE [VERSION...] [--full] [-- PYTEST-ARGS...]
#
#   VERSION      3.9 3.11 3.13 3.14 3.15 (also cp311 or 311; comma lists work);
#                default: all five, the aarch64 release matrix
#   --full       the whole tests/ directory instead of the smoke selection
#   PYTEST-ARGS  passed to pytest; a path among them (tests/test_x.py, or
#                tests/test_x.py::test_y; relative to the repository or to the
#                current directory) replaces the default selection
#
# The smoke selection: tests/test_import.py test_contract.py
# test_base36_encode.py test_format_float.py test_hash_file.py with
# -k "not pure-python" (the compiled core is what this run is about).
#
# What it does (everything is cached, a second run only reinstalls the wheel):
#   * .ci/aarch64/sysroot.py unpacks (dpkg-deb -x, nothing installed) trixie's
#     static amd64 qemu-aarch64 (qemu 10.0), and one arm64 sysroot per Debian
#     suite holding that suite's CPython and the libraries it needs, resolved
#     from the suite's Packages index: bullseye 3.9, bookworm 3.11, trixie
#     3.13, forky 3.14 and 3.15.  Under ${SKYFAST_CACHE:-~/.cache/skyfast-build}/arm64/.
#   * Python packages are installed by the HOST's pip for the arm64 ABI
#     (--target --platform manylinux2014_aarch64 --python-version X.Y
#     --only-binary=:all:), no pip under emulation: the test dependencies
#     (pytest, hypothesis<6.156 -- pure Python --, psutil) and skypilot==0.14.1,
#     the reference, into arm64/pkgs/cpXY/deps; the skyfast wheel (always
#     reinstalled) into arm64/pkgs/cpXY/wheel.  pip evaluates environment
#     markers (python_version < "3.11" ...) for the interpreter running it, so
#     that is a host pythonX.Y of the same version when there is one (pyenv),
#     else python3.  When skypilot's dependency tree has no aarch64 wheel for
#     some package, the run says which and goes on without it: the `sky`
#     fixture then skips the reference comparisons.
#   * A .pth file in the sysroot's dist-packages puts both directories on the
#     arm64 interpreter's sys.path (PYTHONPATH would not do: the tests run
#     `python -I`, and children are started with a clean PYTHONPATH).
#   * Child processes: the tests start sys.executable, an arm64 ELF.  The run
#     registers qemu in binfmt_misc (mounting /proc/sys/fs/binfmt_misc when it
#     is not) under the name `skyfast-qemu-aarch64-<pid>`, with the F flag (the
#     kernel keeps qemu open, so the path need not be visible later), and sets
#     QEMU_LD_PREFIX=SYSROOT, which the children inherit, so qemu finds the
#     arm64 dynamic loader and libraries.  The registration is removed when
#     the run ends, however it ends (a mount it needed is made in a mount
#     namespace of the run's own, and so goes with the run); an
#     aarch64 handler registered by someone else is left alone (ours, newer,
#     is tried first while it exists).  Without binfmt_misc (no permission),
#     sys.executable is a small shell wrapper next to the real interpreter
#     that execs qemu with `-0` (so argv[0], hence sys.executable, stays the
#     wrapper).  SKYFAST_QEMU_BINFMT=0 forces the wrapper.
#   * For each version: checks under qemu that skyfast imports its compiled
#     core on aarch64, then runs `python -Im pytest TESTS -q -p no:cacheprovider`
#     from an empty directory (so the source tree cannot shadow the wheel),
#     with SKYFAST_REQUIRE_EXTENSIONS=1 and HYPOTHESIS_PROFILE=dev (no
#     deadlines: emulation is 10-50x slower) unless set.
#   * Prints one line per version (passed/failed/skipped, seconds) and exits
#     non-zero when any version failed.
#
# Environment: QEMU_CPU (default max,pauth-impdef=on; see below),
# SKYFAST_CACHE (downloads and sysroots), SKYFAST_QEMU_SKY=0 (do
# not install skypilot), SKYFAST_QEMU_BINFMT=0 (wrapper, no binfmt_misc),
# SKYFAST_DEBIAN_MIRROR, SKYFAST_QEMU_SUITE (the suite qemu comes from,
# default trixie: bookworm's qemu 7.2 lacks TCGETS2, which forky's glibc uses
# for termios, so ttys fail under it with ENOSYS).  Needs root for
# binfmt_misc; dpkg-deb; flock; network to deb.debian.org and PyPI on the
# first run.  Runs sharing a cache may overlap on different versions (flock
# on $SKYFAST_CACHE/arm64/.lock while setting up, .lock-cpXY per version).
set -euo pipefail

usage() {
    sed -n '7,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
here="$repo/.ci/aarch64"
[ $# -ge 1 ] || usage

# binfmt_misc keeps its registrations only while it is mounted somewhere:
# unmounting its last mount clears every entry, other runs' too (a run that
# mounted it and ended first once cut a parallel run's children off mid-suite).
# So where the host has it unmounted, a run that may (root) goes into a mount
# namespace of its own and mounts it there, and nobody ever unmounts it: each
# mount goes with its run's last process, the entries with the last such run.
BINFMT=/proc/sys/fs/binfmt_misc
if [ "${SKYFAST_QEMU_BINFMT:-1}" != 0 ] && [ -z "${SKYFAST_QEMU_OWN_MOUNT_NS:-}" ] \
        && [ ! -e "$BINFMT/register" ] && unshare --mount true 2>/dev/null; then
    export SKYFAST_QEMU_OWN_MOUNT_NS=1
    exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi
case "$1" in -h|--help) usage ;; esac
wheelhouse="$(cd "$1" && pwd)" || { echo "qemu-aarch64: no directory $1" >&2; exit 2; }
shift

ALL_VERSIONS="3.9 3.11 3.13 3.14 3.15"
versions=()
full=0
user_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; user_args=("$@"); break ;;
        --full) full=1 ;;
        -h|--help) usage ;;
        *)
            for v in ${1//,/ }; do
                v="${v#cp}"
                case "$v" in
                    3.*) ;;
                    3[0-9]*) v="3.${v#3}" ;;
                    *) echo "qemu-aarch64: not a version: $v" >&2; exit 2 ;;
                esac
                versions+=("$v")
            done
            ;;
    esac
    shift
done
[ ${#versions[@]} -gt 0 ] || read -r -a versions <<<"$ALL_VERSIONS"

for v in "${versions[@]}"; do
    debian_suite "$v" >/dev/null || { echo "qemu-aarch64: no Debian suite for Python $v" >&2; exit 2; }
done

cache="${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}"
mkdir -p "$cache/arm64"
cache="$(cd "$cache" && pwd)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Runs sharing a cache may overlap (two versions at once use both cores), but
# take turns where they would step on each other: .lock guards the shared
# set-up (sysroots, pip, the .pth files), held only while setting up; .lock-cpXY
# one version's packages, held from the wheel's install to pytest's end.
exec 9>"$cache/arm64/.lock"
take_lock 9 "$cache/arm64/.lock"

# --- pytest selection ----------------------------------------------------------
SMOKE=(test_import.py test_contract.py test_base36_encode.py test_format_float.py test_hash_file.py)
orig_cwd="$PWD"
# shellcheck source=lib/pytest-paths.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/pytest-paths.sh"
# shellcheck disable=SC2317   # (called by pytest_paths)
as_is() { REPLY="$1"; }   # pytest runs on this machine: the absolute path will do
pytest_paths as_is ${user_args[@]+"${user_args[@]}"}
if [ "$have_path" = 0 ]; then
    if [ "$full" = 1 ]; then
        pytest_args=("$repo/tests" ${pytest_args[@]+"${pytest_args[@]}"})
    else
        sel=()
        for f in "${SMOKE[@]}"; do sel+=("$repo/tests/$f"); done
        pytest_args=("${sel[@]}" -k "not pure-python" ${pytest_args[@]+"${pytest_args[@]}"})
    fi
fi

# --- qemu and binfmt_misc ----------------------------------------------------------
qemu="$(python3 "$here/sysroot.py" --cache "$cache" qemu)"
"$qemu" --version | head -1 >&2

# One entry per run (the PID in its name), so a run never removes or replaces
# another's; entries of runs that were killed are removed below.
BINFMT_NAME="skyfast-qemu-aarch64-$$"
# The aarch64 ELF header, as Debian's qemu-user-static registers it
# (/usr/lib/binfmt.d/qemu-aarch64.conf), with F only (no P: argv[0] is the path
# the child was started with, which is what CPython derives sys.executable from).
MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
we_registered=0
workdir=""
# shellcheck disable=SC2317   # (called by the trap)
cleanup() {
    if [ "$we_registered" = 1 ] && [ -e "$BINFMT/$BINFMT_NAME" ]; then
        echo -1 > "$BINFMT/$BINFMT_NAME" 2>/dev/null || log "could not remove $BINFMT/$BINFMT_NAME"
    fi
    [ -z "$workdir" ] || rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

use_binfmt=0
if [ "${SKYFAST_QEMU_BINFMT:-1}" != 0 ]; then
    if [ ! -e "$BINFMT/register" ]; then
        # (In this run's own mount namespace, see above; without one -- no
        # unshare -- the mount stays on the host after the run, on purpose.)
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
    fi
    if [ -w "$BINFMT/register" ]; then
        # Leftovers of killed runs point at a qemu that may be gone: remove them
        # (the name without a PID is what runs before per-run names left).
        for entry in "$BINFMT"/skyfast-qemu-aarch64*; do
            [ -e "$entry" ] || continue
            pid="${entry##*-}"
            case "$pid" in *[!0-9]*|"") pid="" ;; esac
            if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
                echo -1 > "$entry" 2>/dev/null || true
            fi
        done
        if printf ':%s:M::%s:%s:%s:F' "$BINFMT_NAME" "$MAGIC" "$MASK" "$qemu" \
                > "$BINFMT/register" 2>/dev/null; then
            we_registered=1
            use_binfmt=1
            log "binfmt_misc: arm64 ELFs run through $qemu ($BINFMT/$BINFMT_NAME)"
        fi
    fi
    [ "$use_binfmt" = 1 ] || log "binfmt_misc not available: child Pythons go through a wrapper"
fi

# --- per version -------------------------------------------------------------------
workdir="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-qemu.XXXXXX")"
TEST_DEPS=(pytest "hypothesis>=6.100,<6.156" "psutil>=5.9")
summary=()
status=0

host_python_for() {   # a host interpreter of version $1 (for marker evaluation), else the newest there is
    # No exact match (3.14/3.15 here): the newest host Python evaluates markers
    # closest to the target's, and pip on an older one also rejects pins whose
    # Requires-Python it cannot meet itself (networkx>=3.12 for cp315), after
    # backtracking through SkyPilot's tree (for cp315 it never finished).
    local c cv want best="" best_v=0
    want="$(IFS=. read -r major minor <<<"$1"; echo $((major * 100 + minor)))"
    for c in "$(find_python "$1")" python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3; do
        if [ -z "$c" ] || ! command -v "$c" >/dev/null 2>&1; then continue; fi
        cv="$("$c" -c 'import sys, venv, ensurepip; print(sys.version_info[0] * 100 + sys.version_info[1])' 2>/dev/null)" || continue
        if [ "$cv" = "$want" ]; then echo "$c"; return; fi
        if [ "$cv" -gt "$best_v" ]; then best="$c"; best_v="$cv"; fi
    done
    echo "${best:-python3}"
}

pip_for() {   # a pip in a venv of the host interpreter $1 (no host site-packages to clash with)
    local py="$1" ver venv
    ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    venv="$cache/arm64/pip-venv/$ver"
    if [ ! -x "$venv/bin/pip" ]; then
        rm -rf "$venv"
        "$py" -m venv "$venv" >&2
    fi
    echo "$venv/bin/pip"
}

pip_target() {   # VERSION TARGET ARGS...: install ARGS for cpVERSION aarch64 into TARGET
    local v="$1" target="$2"; shift 2
    "$pip" install --quiet --target "$target" --upgrade --no-compile \
        "${platforms[@]}" \
        --implementation cp --python-version "$v" --abi "cp${v/./}" --abi abi3 --abi none \
        --only-binary=:all: "$@"
}

platforms_for() {   # SYSROOT: pip --platform options for every manylinux its glibc runs
    local root="$1" stamp minor x
    # shellcheck disable=SC2012   # (our own stamp names: no odd characters)
    stamp="$(cd "$root/.skyfast-debs" && ls -d libc6_2.* | head -1)"   # libc6_2.36-9+deb12u14
    minor="${stamp#libc6_2.}"; minor="${minor%%[!0-9]*}"
    platforms=(--platform manylinux2014_aarch64)
    for ((x = 17; x <= minor; x++)); do platforms+=(--platform "manylinux_2_${x}_aarch64"); done
}

run_version() {
    local v="$1" suite root py tag wheel pkgs deps_stamp want sky_note="" start elapsed rc
    tag="cp${v/./}"
    suite="$(debian_suite "$v")"
    log "=== Python $v ($tag, Debian $suite arm64)"
    exec 8>"$cache/arm64/.lock-$tag"
    take_lock 8 "$cache/arm64/.lock-$tag"
    take_lock 9 "$cache/arm64/.lock"
    root="$(python3 "$here/sysroot.py" --cache "$cache" python "$suite" "$v")"
    py="$root/usr/bin/python$v"
    pkgs="$cache/arm64/pkgs/$tag"

    # The wheel: exactly one cpXY aarch64 wheel in the wheelhouse.
    shopt -s nullglob
    local wheels=("$wheelhouse"/skyfast-*-"$tag"-"$tag"-*aarch64*.whl)
    shopt -u nullglob
    if [ ${#wheels[@]} -ne 1 ]; then
        log "need exactly one $tag aarch64 wheel in $wheelhouse, found ${#wheels[@]}"
        summary+=("$v  $tag  ERROR   no wheel")
        return 1
    fi
    wheel="${wheels[0]}"

    # Dependencies may be newer manylinux than the skyfast wheel (pandas' aarch64
    # wheels are manylinux_2_28): anything the sysroot's glibc can run is fine.
    local -a platforms
    platforms_for "$root"
    local hostpy pip
    hostpy="$(host_python_for "$v")"
    pip="$(pip_for "$hostpy")"
    local hostv
    hostv="$("$hostpy" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ "$hostv" = "$v" ] || log "no host Python $v: pip evaluates environment markers for $hostv ($hostpy)"

    # Test dependencies (+ SkyPilot), cached; the stamp names what was asked for.
    want="${TEST_DEPS[*]} ${platforms[*]} markers:$hostv"
    if [ "${SKYFAST_QEMU_SKY:-1}" != 0 ]; then want="$want skypilot==0.14.1"; fi
    deps_stamp="$pkgs/deps.stamp"
    if [ ! -f "$deps_stamp" ] || [ "$(head -1 "$deps_stamp")" != "$want" ]; then
        rm -rf "$pkgs/deps" "$deps_stamp"
        mkdir -p "$pkgs"
        local note=""
        if [ "${SKYFAST_QEMU_SKY:-1}" != 0 ]; then
            log "pip ($hostpy): test dependencies + skypilot==0.14.1 for $tag aarch64"
            if ! pip_target "$v" "$pkgs/deps/site-packages" "${TEST_DEPS[@]}" skypilot==0.14.1 \
                    >"$workdir/pip-$tag.log" 2>&1; then
                note="skypilot==0.14.1 not installable for $tag aarch64: $(grep -E '^ERROR' "$workdir/pip-$tag.log" | grep -v 'dependency resolver' | head -2 | tr '\n' ' ')"
                log "$note"
                rm -rf "$pkgs/deps"
            fi
        fi
        if [ ! -d "$pkgs/deps" ]; then
            log "pip ($hostpy): test dependencies for $tag aarch64"
            pip_target "$v" "$pkgs/deps/site-packages" "${TEST_DEPS[@]}" 2>&1 \
                | grep -v -e 'is ignored: it is neither' -e "Running pip as the 'root'" >&2 || true
            [ -d "$pkgs/deps/site-packages/pytest" ] || [ -d "$pkgs/deps/site-packages/_pytest" ] \
                || { summary+=("$v  $tag  ERROR   pip could not install the test dependencies"); return 1; }
        fi
        printf '%s\n%s\n' "$want" "$note" > "$deps_stamp"
    fi
    sky_note="$(sed -n 2p "$deps_stamp")"
    [ -z "$sky_note" ] || log "$sky_note"

    # The wheel, always afresh.
    rm -rf "$pkgs/wheel"
    log "pip: $(basename "$wheel")"
    pip_target "$v" "$pkgs/wheel/site-packages" --no-deps "$wheel"

    # sys.path for the arm64 interpreter: one .pth for the whole suite, choosing by version.
    local pth="$root/usr/lib/python3/dist-packages/zz-skyfast-qemu.pth"
    mkdir -p "$(dirname "$pth")"
    # (A .pth line is exec'd with separate locals: no comprehension may use a name bound on it.)
    # Replaced whole (rename), never truncated: another run's interpreter may be reading it.
    printf '%s\n' "import site, sys; list(map(site.addsitedir, ['$cache/arm64/pkgs/cp%d%d/wheel/site-packages' % sys.version_info[:2], '$cache/arm64/pkgs/cp%d%d/deps/site-packages' % sys.version_info[:2]]))" > "$pth.$$"
    mv -f "$pth.$$" "$pth"

    # How the arm64 interpreter is started.
    local -a runpy
    if [ "$use_binfmt" = 1 ]; then
        runpy=("$py")
    else
        local wrapper="$root/usr/bin/python$v-qemu"
        # shellcheck disable=SC2016   # ($0 and $@ are the wrapper's)
        printf '#!/bin/sh\nQEMU_LD_PREFIX=%s exec %s -L %s -0 "$0" %s "$@"\n' \
            "$root" "$qemu" "$root" "$py" > "$wrapper"
        chmod +x "$wrapper"
        runpy=("$wrapper")
    fi

    local run="$workdir/run-$tag"
    mkdir -p "$run"
    local pycache="$cache/arm64/pycache/$tag"
    mkdir -p "$pycache"
    export QEMU_LD_PREFIX="$root"
    # trixie's and forky's CPythons are built with -mbranch-protection=standard:
    # under qemu 7.2's default CPU (max) every pointer-authentication instruction
    # runs the architected QARMA5 cipher in software, which made 3.13-3.15 about
    # 10x slower than bullseye's and bookworm's 3.9/3.11.  pauth-impdef keeps
    # pointer authentication on (signatures are still checked) with qemu's cheap
    # implementation-defined algorithm -- qemu 10's default, said here for any
    # older qemu (SKYFAST_QEMU_SUITE=bookworm).  Children inherit QEMU_CPU.
    export QEMU_CPU="${QEMU_CPU:-max,pauth-impdef=on}"
    export PYTHONPYCACHEPREFIX="$pycache"   # children without -I: keep tests/ free of pycs
    export SKYFAST_REQUIRE_EXTENSIONS=1
    export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-dev}"

    flock -u 9   # set-up done: another run may set up meanwhile

    if ! (cd "$run" && "${runpy[@]}" -I -c "import skyfast, platform; assert skyfast.IMPLEMENTATION == 'cython' and platform.machine() == 'aarch64', (skyfast.IMPLEMENTATION, platform.machine()); print('skyfast', skyfast.__version__, skyfast.IMPLEMENTATION, platform.machine(), platform.python_version(), skyfast.__file__)"); then
        log "Python $v: skyfast does not import its compiled core under qemu"
        summary+=("$v  $tag  ERROR   import check failed")
        return 1
    fi
    if [ -n "$sky_note" ] || ! (cd "$run" && "${runpy[@]}" -I -c "import sky; assert sky.__version__ == '0.14.1'" 2>"$workdir/sky-$tag.err"); then
        [ -n "$sky_note" ] || sky_note="sky does not import: $(tail -1 "$workdir/sky-$tag.err")"
        log "Python $v: no SkyPilot reference ($sky_note): reference tests skip"
    fi

    log "Python $v: pytest ${pytest_args[*]}"
    start=$SECONDS
    set +e
    (cd "$run" && "${runpy[@]}" -I -X "pycache_prefix=$pycache" -m pytest -q -p no:cacheprovider \
        "${pytest_args[@]}") 2>&1 | tee "$workdir/pytest-$tag.log"
    rc=${PIPESTATUS[0]}
    set -e
    elapsed=$((SECONDS - start))
    local counts
    counts="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran' "$workdir/pytest-$tag.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')"
    local ref="sky"
    [ -z "$sky_note" ] || ref="no-sky"
    if [ "$rc" = 0 ]; then
        summary+=("$v  $tag  ok      ${elapsed}s  $ref  $counts")
    else
        summary+=("$v  $tag  FAILED  ${elapsed}s  $ref  exit $rc: $counts")
        return 1
    fi
}

flock -u 9   # (taken above for qemu and binfmt_misc; run_version takes .lock-cpXY first, then this)
for v in "${versions[@]}"; do
    run_version "$v" || status=1
    flock -u 9; exec 8>&-   # released however run_version returned
done

echo
echo "aarch64 under qemu ($("$qemu" --version | head -1)), binfmt_misc=$use_binfmt:"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$status"
