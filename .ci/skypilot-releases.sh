#!/usr/bin/env bash
# skyfast against each SkyPilot release it lists as verified: the fingerprint
# rule, then the differential smoke.
#
#   .ci/skypilot-releases.sh [--full] [--fingerprint-only] [--wheel WHEEL] [RELEASE ...]
#
# RELEASE is a pinned pip requirement (skypilot==0.12.3.post1,
# skypilot-nightly==1.0.0.dev20261027); none means every entry of
# VERIFIED_RELEASES in skyfast/integrations/_verified.py (read from this tree).
# For each release:
#
#  1. fingerprints: its wheel (pip download --no-deps, kept in the cache) gives
#     sky/utils/common_utils.py and subprocess_utils.py; skyfast's source tree
#     (SKYFAST_NO_EXTENSIONS=1: check() needs no compiled core) must call all
#     ten functions verified -- skypilot.check() on those files, and the
#     fingerprints computed past the whole-file shortcut (VERIFIED_FILES), whose
#     entries a listed release must have.  One line per release.
#  2. unless --fingerprint-only, the differential smoke: a venv with the
#     release, kept in the cache (reused while it imports sky at that version),
#     gets skyfast -- WHEEL, else this tree built once per run
#     (SKYFAST_REQUIRE_EXTENSIONS=1, what `pip install .` installs) -- and
#     pytest, hypothesis, psutil; then, from a directory holding a copy of
#     tests/ and pyproject.toml but no skyfast sources, `python -I -m pytest`
#     runs the reference tests of the ten per-function files and of
#     test_integrations_skypilot.py, compiled legs only, no reliability
#     scenarios (~30 s a release on 2 cores); --full runs both
#     implementations over all of tests/ (-m "reference and not
#     skypilot_processes").
#
# The cache is ${SKYFAST_CACHE:-/var/cache/skyfast}/skypilot-releases/RELEASE
# (dist/ the wheel, src/ the two files, venv/); runs sharing it take turns per
# release (flock on RELEASE.lock).  CI stays set (Hypothesis' ci profile);
# SKYFAST_SKYPILOT is unset for pytest, so SkyPilot's own functions are the
# reference.  PYTHON (default python3) makes the venvs and must match WHEEL.
# Keeps going across releases, prints a markdown table (release, fingerprints,
# differential, seconds) and a totals line, and exits non-zero if anything
# failed.
set -uo pipefail

usage() {
    echo "usage: $0 [--full] [--fingerprint-only] [--wheel WHEEL] [RELEASE ...]" >&2
    exit 2
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
python="${PYTHON:-python3}"
full=0
fingerprint_only=0
wheel=""
releases=()
while [ $# -gt 0 ]; do
    case "$1" in
        --full) full=1 ;;
        --fingerprint-only) fingerprint_only=1 ;;
        --wheel) [ $# -ge 2 ] || usage; wheel="$2"; shift ;;
        --wheel=*) wheel="${1#--wheel=}" ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' \
                         "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) usage ;;
        *) releases+=("$1") ;;
    esac
    shift
done
if [ -n "$wheel" ]; then
    [ -f "$wheel" ] || { echo "no such wheel: $wheel" >&2; exit 2; }
    wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
fi
mapfile -t verified_list < <("$python" -c '
import runpy, sys
print("\n".join(runpy.run_path(sys.argv[1])["VERIFIED_RELEASES"]))' \
    "$repo/skyfast/integrations/_verified.py")
[ ${#verified_list[@]} -gt 0 ] || { echo "no VERIFIED_RELEASES read from _verified.py" >&2; exit 2; }
if [ ${#releases[@]} -eq 0 ]; then
    releases=("${verified_list[@]}")
fi
for release in "${releases[@]}"; do
    # Pinned: the cache is keyed by the release, and the venv is checked against its version.
    [[ "$release" =~ ^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+$ ]] \
        || { echo "not a pinned requirement (NAME==VERSION): $release" >&2; exit 2; }
done

cache="${SKYFAST_CACHE:-/var/cache/skyfast}/skypilot-releases"
mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-skypilot-releases.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export CI="${CI:-true}" PIP_DISABLE_PIP_VERSION_CHECK=1

begin=$SECONDS

functions=(base36_encode find_free_port format_float get_cpu_count
           get_max_workers_for_file_mounts get_mem_size_gb get_parallel_threads
           hash_file read_last_n_lines truncate_long_string)
if [ "$full" = 1 ]; then
    selection=(-m "reference and not skypilot_processes" tests)
else
    selection=(-m "reference and not reliability and not skypilot_processes" -k "not pure-python")
    for f in "${functions[@]}"; do selection+=("tests/test_$f.py"); done
    selection+=(tests/test_integrations_skypilot.py)
fi

rows=()
status=0
total_passed=0 total_skipped=0 total_failed=0 total_errors=0 verified_releases=0

# The fingerprint rule on the release's two files, with skyfast's source tree.
# Prints one row; non-zero unless every function is verified.
fingerprints() {   # RELEASE SKY_DIR
    (cd "$work" && SKYFAST_NO_EXTENSIONS=1 PYTHONPATH="$repo" "$python" -c '
import hashlib, os, sys
from skyfast.integrations import _fingerprint, _verified, skypilot

release, sky_dir, repo = sys.argv[1:4]
assert skypilot.__file__ == os.path.join(repo, "skyfast", "integrations", "skypilot.py"), \
    skypilot.__file__
verdicts = skypilot.check(sky_dir)
# The rule itself too, past the whole-file shortcut check() takes for listed
# files; a fingerprint not listed is printed, to be added once the smoke passed.
computed = _fingerprint.module_fingerprints(sky_dir, skypilot.UPSTREAM_NAMES)
problems, rule = [], 0
for v in verdicts.values():
    fp = computed[v.module][v.name]
    listed = fp in _verified.FINGERPRINTS[v.module][v.name]
    rule += listed
    if not v.verified:
        problems.append("%s.%s: %s%s" % (v.module, v.name, v.reason,
                                          "" if fp is None else ", fingerprint " + fp))
    elif not listed:
        problems.append("%s.%s: verified by its file, but fingerprint %s is not listed"
                        % (v.module, v.name, fp))
files = 0
for module in skypilot.UPSTREAM_NAMES:
    path = os.path.join(sky_dir, *module.split(".")[1:]) + ".py"
    with open(path, encoding="utf-8") as f:
        digest = hashlib.sha256(f.read().encode("utf-8")).hexdigest()
    if _verified.VERIFIED_FILES.get(digest, ("",))[0] == module:
        files += 1
    elif release in _verified.VERIFIED_RELEASES:
        problems.append("%s: file %s of a verified release is not in VERIFIED_FILES"
                        % (module, digest))
print("fingerprints  %-38s %d/%d verified, rule %d/%d, files listed %d/%d%s" % (
    release, sum(v.verified for v in verdicts.values()), len(verdicts),
    rule, len(verdicts), files, len(skypilot.UPSTREAM_NAMES), ": FAIL" if problems else ""))
for p in problems:
    print("    " + p)
sys.exit(1 if problems else 0)
' "$1" "$2" "$repo")
}

# Prepares (or reuses) the release's venv with skyfast, pytest, hypothesis,
# psutil; non-zero on any failure.
release_venv() {   # RELEASE VERSION VENV
    local release="$1" version="$2" venv="$3"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -I -c '
import sys, warnings
warnings.simplefilter("ignore")
import sky
sys.exit(sky.__version__ != sys.argv[1])' "$version" >/dev/null 2>&1; then
        echo "reusing $venv (sky $version)"
    else
        rm -rf "$venv"
        "$python" -m venv "$venv" || return
        "$venv/bin/python" -m pip install --quiet --upgrade pip || return
        "$venv/bin/python" -m pip install --quiet "$release" || return
    fi
    "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$skyfast_wheel" || return
    "$venv/bin/python" -m pip install --quiet "pytest>=7" "hypothesis>=6.100" "psutil>=5.9" || return
    (cd "$work" && SKYFAST_REQUIRE_EXTENSIONS=1 "$venv/bin/python" -I -c '
import sys, warnings
import skyfast
warnings.simplefilter("ignore")
import sky
assert skyfast.IMPLEMENTATION == "cython", skyfast.IMPLEMENTATION
assert skyfast.__file__.startswith(sys.prefix + "/"), skyfast.__file__
assert sky.__file__.startswith(sys.prefix + "/"), sky.__file__
assert sky.__version__ == sys.argv[1], sky.__version__
print("skyfast %s (%s), sky %s, %s" % (skyfast.__version__, skyfast.IMPLEMENTATION,
                                     sky.__version__, sys.version.split()[0]))' "$version")
}

if [ "$fingerprint_only" = 0 ]; then
    step "the tests to run: a copy of tests/ and pyproject.toml in $work/run"
    mkdir "$work/run"
    cp -R "$repo/tests" "$work/run/tests"
    cp "$repo/pyproject.toml" "$work/run/pyproject.toml"
    if [ -n "$wheel" ]; then
        skyfast_wheel="$wheel"
        echo "skyfast from $wheel"
    else
        step "skyfast from this tree: one build for every release (SKYFAST_REQUIRE_EXTENSIONS=1)"
        if SKYFAST_REQUIRE_EXTENSIONS=1 "$python" -m pip wheel --quiet --no-deps \
                --wheel-dir "$work/dist" "$repo"; then
            skyfast_wheel="$(find "$work/dist" -name 'skyfast-*.whl' | head -n 1)"
            basename "$skyfast_wheel"
        else
            skyfast_wheel=""
            echo "building skyfast failed: no differential run" >&2
            status=1
        fi
    fi
fi

count() {   # WORD: its number in $summary, pytest's last line (0 when absent)
    grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE '^[0-9]+' || echo 0
}

fp_lines=()
for release in "${releases[@]}"; do
    t0=$SECONDS
    name="${release%%==*}"
    version="${release#*==}"
    dir="$cache/$release"
    exec 8>"$cache/$release.lock"   # held until this release is done
    take_lock 8 "$cache/$release.lock"

    step "$release: fingerprints (its wheel's two modules, skyfast's source tree)"
    fp="FAIL"
    mkdir -p "$dir/dist"
    whl="$(find "$dir/dist" -name '*.whl' | head -n 1)"
    if [ -z "$whl" ]; then
        "$python" -m pip download --quiet --no-deps --only-binary :all: \
            --dest "$dir/dist" "$release" || echo "pip download $release failed" >&2
        whl="$(find "$dir/dist" -name '*.whl' | head -n 1)"
    fi
    if [ -n "$whl" ]; then
        rm -rf "$dir/src"
        if unzip -q -o "$whl" sky/utils/common_utils.py sky/utils/subprocess_utils.py -d "$dir/src"; then
            if out="$(fingerprints "$release" "$dir/src/sky")"; then
                fp="$(grep -oE '[0-9]+/[0-9]+ verified' <<<"$out" | head -n 1)"
                verified_releases=$((verified_releases + 1))
            else
                fp="FAIL: $(grep -oE '[0-9]+/[0-9]+ verified' <<<"$out" | head -n 1)"
            fi
            echo "$out"
            fp_lines+=("$(head -n 1 <<<"$out")")
        else
            echo "$(basename "$whl") lacks sky/utils/{common,subprocess}_utils.py" >&2
        fi
    fi
    [ "${fp%%:*}" != FAIL ] || status=1

    diff_result="-"
    if [ "$fingerprint_only" = 0 ]; then
        diff_result="FAIL"
        if [ -n "$skyfast_wheel" ]; then
            step "$release: venv $dir/venv ($name $version, skyfast, pytest)"
            if release_venv "$release" "$version" "$dir/venv"; then
                step "$release: differential smoke ($([ "$full" = 1 ] && echo "--full: all of tests/, both implementations" || echo "ten functions + integration, compiled legs"))"
                log="$work/pytest-$release.log"
                # (Not env(1): the venv's path has an '=' in it.)
                # A release not yet listed is a candidate: the reference fixture takes it
                # even where its code changed, so the differential tests can vet that code.
                candidate=1
                for listed in "${verified_list[@]}"; do
                    [ "$listed" = "$release" ] && candidate=0
                done
                (cd "$work/run" && unset SKYFAST_SKYPILOT SKYFAST_SKYPILOT_TRACE \
                    && export SKYFAST_REQUIRE_EXTENSIONS=1 \
                    && if [ "$candidate" = 1 ]; then export SKYFAST_REFERENCE_CANDIDATE=1; fi \
                    && "$dir/venv/bin/python" -I -m pytest -p no:cacheprovider -q "${selection[@]}") \
                    2>&1 | tee "$log"
                rc=${PIPESTATUS[0]}
                summary="$(grep -E '^(=+ )?([0-9]+ (passed|failed|skipped|errors?|deselected)|no tests ran)' \
                    "$log" | tail -n 1)"
                passed="$(count passed)"; skipped="$(count skipped)"
                failed="$(count failed)"; errors="$(count 'errors?')"
                total_passed=$((total_passed + passed)); total_skipped=$((total_skipped + skipped))
                total_failed=$((total_failed + failed)); total_errors=$((total_errors + errors))
                counts="$passed passed"
                [ "$skipped" = 0 ] || counts+=", $skipped skipped"
                [ "$failed" = 0 ] || counts+=", $failed failed"
                [ "$errors" = 0 ] || counts+=", $errors errors"
                # Nothing passed is a failure too (every reference test skips without sky).
                if [ "$rc" = 0 ] && [ "$passed" -gt 0 ]; then
                    diff_result="$counts"
                else
                    diff_result="FAIL ($counts, pytest exit $rc)"
                fi
            else
                echo "setting up $dir/venv failed" >&2
                diff_result="FAIL (venv)"
            fi
        fi
        [ "${diff_result%% *}" != FAIL ] || status=1
    fi
    flock -u 8
    exec 8>&-
    rows+=("| $release | $fp | $diff_result | $((SECONDS - t0)) |")
done

step "summary"
echo
echo "| release | fingerprints | differential | seconds |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${fp_lines[@]}"
if [ "$fingerprint_only" = 0 ]; then
    # One line in pytest's words, for .ci/matrix.sh's table.
    echo "$total_passed passed, $total_skipped skipped, $total_failed failed, $total_errors errors:" \
         "differential, ${#releases[@]} release(s) ($([ "$full" = 1 ] && echo full || echo smoke)," \
         "fingerprints verified for $verified_releases)"
fi
step "done"
echo "::: SkyPilot releases: $([ "$status" = 0 ] && echo "all passed" || echo FAILED) in $((SECONDS - begin)) s"
exit "$status"
