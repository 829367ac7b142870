#!/usr/bin/env bash
# Every other CPython the metadata claims, besides the main one: a fresh venv each,
# the package built from this tree with the reference SkyPilot, then a smoke run --
# the import and contract tests and the differential tests against SkyPilot 0.14.1
# (-m "reference and not reliability"), compiled legs only -- and mypy --strict for
# that version.  The whole suite runs on the main Python (.ci/run) and on every
# interpreter with `.ci/other-pythons.sh --full`.  An interpreter that CI is meant
# to test but cannot find is a failure, not a skip.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
main="$(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
versions="${SKYFAST_OTHER_PYTHONS:-3.9 3.10 3.11 3.12 3.13}"
full=0
[ "${1:-}" = "--full" ] && full=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

find_python() {   # $1 = "3.9": an interpreter of that version, or nothing
    local exe
    if exe="$(command -v "python$1")" && "$exe" -c '' 2>/dev/null; then
        echo "$exe"; return
    fi
    if command -v pyenv >/dev/null || [ -d "${PYENV_ROOT:-$HOME/.pyenv}" ]; then
        for exe in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
            [ -x "$exe" ] && { echo "$exe"; return; }
        done
    fi
}

tested=() missing=()
for version in $versions; do
    [ "$version" = "$main" ] && continue
    exe="$(find_python "$version")"
    if [ -z "$exe" ]; then
        echo "::: python $version: NOT FOUND on this machine"
        missing+=("$version")
        continue
    fi
    start=$SECONDS
    echo "::: python $version ($exe)"
    "$exe" -m venv "$work/$version"
    (
        . "$work/$version/bin/activate"
        python -m pip install --quiet --upgrade pip
        SKYFAST_REQUIRE_EXTENSIONS=1 pip install --quiet "$repo[test,reference]"
        cd "$work"   # -I and an empty cwd: the installed build, never the source tree
        python -I -c "import skyfast, sys; sys.exit(skyfast.IMPLEMENTATION != 'cython')"
        if [ "$full" = 1 ]; then
            SKYFAST_REQUIRE_EXTENSIONS=1 python -Im pytest "$repo/tests" -q -p no:cacheprovider
        else
            SKYFAST_REQUIRE_EXTENSIONS=1 python -Im pytest "$repo/tests" -q -p no:cacheprovider \
                -m "reference and not reliability" -k "not pure-python"
            SKYFAST_REQUIRE_EXTENSIONS=1 python -Im pytest -q -p no:cacheprovider \
                "$repo/tests/test_import.py" "$repo/tests/test_contract.py"
        fi
        cd "$repo"
        python -m mypy --strict --python-version "$version" skyfast
    )
    echo "::: python $version passed in $((SECONDS - start)) s"
    tested+=("$version")
done
echo "::: other Pythons: tested ${tested[*]:-none}"
if [ "${#missing[@]}" -gt 0 ]; then
    echo "other-pythons: missing interpreters: ${missing[*]}" >&2
    exit 1
fi
