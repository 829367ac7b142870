#!/usr/bin/env bash
# The README's test command against a release wheel, as a user would install it.
#
#   .ci/wheel-check.sh WHEELHOUSE      (the output of .ci/build-wheels.sh)
#
# Takes the manylinux2014 wheel for this interpreter (built by zig, tagged and
# checked by auditwheel and twine in build-wheels.sh), checks what it ships and
# requires, installs it with its [test,reference] extras in a fresh venv, and runs
# the whole test suite against it from a directory with no skyfast sources; then
# the console script.  Any failure exits non-zero.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 WHEELHOUSE" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
house="$(cd "$1" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-wheel-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export SKYFAST_REQUIRE_EXTENSIONS=1 PIP_DISABLE_PIP_VERSION_CHECK=1

start=$SECONDS

tag="$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
arch="$(uname -m)"
wheels=("$house"/skyfast-*-"$tag"-"$tag"-manylinux2014_"$arch"*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "no $tag $arch wheel in $house"
wheel="${wheels[0]}"
echo "::: $(basename "$wheel")"

step "contents and metadata"
unzip -Z1 "$wheel" | sort >"$work/wheel.txt"
grep -qE '^skyfast/_core\..*\.so$' "$work/wheel.txt" || die "wheel has no compiled core"
grep -qE '\.dist-info/licenses/LICENSE$' "$work/wheel.txt" || die "wheel has no LICENSE"
for f in skyfast/py.typed skyfast/_core.pyi skyfast/integrations/skypilot.py \
         _skyfast_startup.py skyfast_skypilot.pth skyfast_skypilot.start; do   # start-up files at the root
    grep -qxF "$f" "$work/wheel.txt" || die "wheel lacks $f"
done
if grep -E '\.(c|h)$' "$work/wheel.txt"; then die "wheel ships C sources (above)"; fi
unzip -p "$wheel" '*.dist-info/METADATA' >"$work/METADATA"
# PEP 639: the licence as an SPDX expression and the file that carries it.
for field in 'License-Expression: Apache-2.0' 'License-File: LICENSE'; do
    grep -qxF "$field" "$work/METADATA" || die "METADATA lacks '$field'"
done
# psutil and everything else are extras: nothing is required of every user.
if grep '^Requires-Dist:' "$work/METADATA" | grep -v 'extra =='; then
    die "the wheel requires the packages above for everyone"
fi

step "fresh venv: the wheel with [test,reference] (the README's install, from the wheel)"
"$python" -m venv "$work/env"
env_py="$work/env/bin/python"
"$env_py" -m pip install --quiet --upgrade pip
# --only-binary for skyfast alone: pip must take this wheel, never rebuild from source.
"$env_py" -m pip install --quiet --only-binary skyfast "${wheel}[test,reference]"

step "the README's test command against the installed wheel"
# A directory with the tests and the pytest configuration but no skyfast/
# package, so nothing can shadow the installed build (-I keeps the working
# directory and PYTHON* variables out of sys.path as well).
run="$work/run"
mkdir "$run"
cp -R "$repo/tests" "$run/tests"
cp "$repo/pyproject.toml" "$run/pyproject.toml"
cd "$run"
where="$("$env_py" -I -c 'import skyfast; print(skyfast.__file__)')"
[[ "$where" == "$work/env/"*"/site-packages/skyfast/__init__.py" ]] \
    || die "skyfast imported from $where, not from the test venv"
# SkyPilot's real API server runs in the README command's own pass (on the same
# start-up files and core); this pass is about the wheel's build, and its start-up
# files are exercised by tests/test_skypilot_startup.py here.
"$env_py" -I -m pytest tests -p no:cacheprovider -m "not skypilot_processes"

step "installed package: compiled core, console script"
"$env_py" -I -c "import skyfast; assert skyfast.IMPLEMENTATION == 'cython', skyfast.IMPLEMENTATION"
"$work/env/bin/skyfast" --help >/dev/null
"$work/env/bin/skyfast" info
# The quick comparison through the console script (SkyPilot is in this venv).
"$work/env/bin/skyfast" bench --against skypilot >/dev/null

step ""
echo "::: wheel check passed in $((SECONDS - start))s"
