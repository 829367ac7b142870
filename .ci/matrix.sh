#!/usr/bin/env bash
# The full platform matrix, with one command:
#
#   .ci/matrix.sh OUTDIR
#
# 1. the release set (.ci/build-wheels.sh OUTDIR/wheelhouse);
# 2. the README's test command -- the whole suite, SkyPilot 0.14.1 as the
#    reference -- against the installed manylinux2014 wheel on every x86_64
#    CPython: 3.9-3.13 (pyenv), 3.14 and 3.15 (Debian forky chroot);
# 3. the free-threaded 3.13t (built by .ci/build-python-ft.sh): the suite with the
#    GIL off, against a build from source (no cp313t wheel is released);
# 4. aarch64 under qemu-user with Debian's arm64 CPythons: every aarch64 wheel,
#    the whole suite (two versions at a time);
# 5. every SkyPilot release skyfast lists as verified (.ci/skypilot-releases.sh
#    --full, the cp311 x86_64 wheel): the fingerprint rule, and the reference
#    tests of the whole suite, both implementations, against each release.
#
# Prints a markdown table (Python, wheel, result, seconds) and writes it to
# OUTDIR/matrix.md; docs/platforms.md records the latest one.  Keeps going after a
# failure and exits non-zero if anything failed.  SKYFAST_MATRIX_WHEELHOUSE=DIR
# tests a release set built earlier instead of building one;
# SKYFAST_MATRIX_AARCH64=smoke limits the aarch64 leg to the smoke selection.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
house="$out/wheelhouse"
rows=()
status=0

record() {   # $1 = python, $2 = what was installed, $3 = log file, $4 = exit code, $5 = seconds
    local summary
    summary="$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$3" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//')"
    [ "$4" = 0 ] || status=1
    rows+=("| $1 | $2 | ${summary:-no pytest summary} | $([ "$4" = 0 ] && echo pass || echo FAIL) | $5 |")
}

run() {   # $1 = python label, $2 = installed, rest = command; output to a log
    local label="$1" what="$2" log="$out/log-${1// /_}.txt" t0=$SECONDS rc=0
    shift 2
    echo "::: $label ($what): $*"
    "$@" >"$log" 2>&1 || rc=$?
    tail -n 3 "$log"
    record "$label" "$what" "$log" "$rc" "$((SECONDS - t0))"
}

t0=$SECONDS
if [ -n "${SKYFAST_MATRIX_WHEELHOUSE:-}" ]; then   # a release set built earlier
    house="$(cd "$SKYFAST_MATRIX_WHEELHOUSE" && pwd)"
    echo "::: release set from $house"
else
    echo "::: release set"
    bash "$repo/.ci/build-wheels.sh" "$house" || { echo "build-wheels failed" >&2; exit 1; }
fi
rows+=("| (build) | $(find "$house" -name 'skyfast-*' | wc -l) files | sdist, pure wheel, 7 x86_64 + 5 aarch64 manylinux2014 wheels | pass | $((SECONDS - t0)) |")

for version in 3.9 3.10 3.11 3.12 3.13; do
    exe="$(find_python "$version")"
    if [ -z "$exe" ]; then
        rows+=("| $version x86_64 | - | interpreter not found | FAIL | 0 |"); status=1; continue
    fi
    run "$version x86_64" "cp${version/./} wheel" env PYTHON="$exe" bash "$repo/.ci/wheel-check.sh" "$house"
done

# The fingerprint rule and the reference tier against each verified SkyPilot release.
exe="$(find_python 3.11)"
cp311=("$house"/skyfast-*-cp311-cp311-manylinux2014_x86_64*.whl)
if [ -n "$exe" ] && [ -f "${cp311[0]}" ]; then
    run "3.11 x86_64 skypilot-releases" "cp311 wheel, each verified SkyPilot" \
        env PYTHON="$exe" bash "$repo/.ci/skypilot-releases.sh" --full --wheel "${cp311[0]}"
else
    rows+=("| 3.11 x86_64 skypilot-releases | - | no Python 3.11 or no cp311 wheel | FAIL | 0 |"); status=1
fi

bash "$repo/.ci/forky-chroot.sh" setup >"$out/log-forky-setup.txt" 2>&1 || status=1
for version in 3.14 3.15; do
    run "$version x86_64" "cp${version/./} wheel (forky)" \
        env SKYFAST_WHEELHOUSE="$house" bash "$repo/.ci/forky-chroot.sh" test "$version"
done

ft_prefix="${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}/python-3.13t"
if bash "$repo/.ci/build-python-ft.sh" "$ft_prefix" >"$out/log-ft-build.txt" 2>&1; then
    ft="$ft_prefix/bin/python3.13t"
    ftv="$out/venv-3.13t"
    rm -rf "$ftv"
    "$ft" -m venv "$ftv"
    # The newest Hypothesis has no cp313t wheel (a Rust part): take a wheel.  SkyPilot's
    # dependencies do not all build on 3.13t here: its reference tests skip.
    "$ftv/bin/pip" install -q --only-binary=hypothesis pytest hypothesis psutil \
        >"$out/log-ft-install.txt" 2>&1 \
        && SKYFAST_REQUIRE_EXTENSIONS=1 "$ftv/bin/pip" install -q --no-deps "$repo" \
        >>"$out/log-ft-install.txt" 2>&1 || status=1
    run "3.13t x86_64" "source build, GIL off" \
        sh -c "cd '$(mktemp -d)' && SKYFAST_REQUIRE_EXTENSIONS=1 '$ftv/bin/python' -Im pytest '$repo/tests' -q -p no:cacheprovider"
else
    rows+=("| 3.13t x86_64 | - | build failed (log-ft-build.txt) | FAIL | 0 |"); status=1
fi

# aarch64 under qemu-user: each emulated interpreter keeps one core busy, so the
# five versions run as two groups side by side (qemu-aarch64.sh lets runs
# overlap on different versions).  The whole suite takes ~15-25 min per version
# here; SKYFAST_MATRIX_AARCH64=smoke runs its smoke selection instead and the
# table says so.  One row per version, from qemu-aarch64.sh's summary lines.
if [ "${SKYFAST_MATRIX_AARCH64:-full}" = smoke ]; then
    a64_what="wheel (qemu), smoke selection"; a64_args=()
else
    a64_what="wheel (qemu)"; a64_args=(--full)
fi
a64_t0=$SECONDS
a64_pids=()
for group in 3.9,3.13,3.15 3.11,3.14; do
    echo "::: aarch64 $group: qemu-aarch64.sh ${a64_args[*]}"
    bash "$repo/.ci/qemu-aarch64.sh" "$house" "$group" ${a64_args[@]+"${a64_args[@]}"} \
        >"$out/log-aarch64-${group//,/_}.txt" 2>&1 &
    a64_pids+=($!)
done
for pid in "${a64_pids[@]}"; do wait "$pid" || status=1; done
for version in 3.9 3.11 3.13 3.14 3.15; do
    tag="cp${version/./}"
    # e.g. "  3.9  cp39  ok      912s  sky  2844 passed, 17 skipped in 905.1s"
    line="$(grep -h -E "^  $version  $tag  " "$out"/log-aarch64-*.txt | tail -n 1 | sed 's/^ *//')"
    read -r _ _ result secs ref counts <<<"$line"
    case "$result" in
        ok) rows+=("| $version aarch64 | $tag $a64_what, reference: $ref | ${counts% in *} | pass | ${secs%s} |") ;;
        *) status=1
           rows+=("| $version aarch64 | $tag $a64_what | ${line:-no summary line (log-aarch64-*.txt)} | FAIL | $((SECONDS - a64_t0)) |") ;;
    esac
done

{
    echo "Commit $(git -C "$repo" rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(uname -m) host, $(nproc) cores."
    echo
    echo "| Python | installed | tests | result | seconds |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$out/matrix.md"
exit "$status"
