#!/usr/bin/env bash
# The README test command (and mypy --strict) under every Python the metadata
# claims besides the main one: a fresh venv each, the package built from this
# tree, the tests run against the installed build.  An interpreter that is not
# on this machine (PATH or pyenv) is reported as skipped, not failed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
main="$(${PYTHON:-python3} -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

find_python() {   # $1 = "3.9": an interpreter of that version, or nothing
    local exe
    if exe="$(command -v "python$1")" && "$exe" -c '' 2>/dev/null; then
        echo "$exe"; return
    fi
    if command -v pyenv >/dev/null; then
        for exe in "$(pyenv root)"/versions/"$1".*/bin/"python$1"; do
            [ -x "$exe" ] && { echo "$exe"; return; }
        done
    fi
}

tested=() skipped=()
for version in 3.9 3.10 3.11 3.12 3.13; do
    [ "$version" = "$main" ] && continue
    exe="$(find_python "$version")"
    if [ -z "$exe" ]; then
        echo "::: python $version: not on this machine, skipped"
        skipped+=("$version")
        continue
    fi
    echo "::: python $version ($exe)"
    "$exe" -m venv "$work/$version"
    (
        # shellcheck disable=SC1090,SC1091
        . "$work/$version/bin/activate"
        python -m pip install --quiet --upgrade pip
        SKYFAST_REQUIRE_EXTENSIONS=1 pip install --quiet "$repo[test,reference]"
        cd "$repo"
        python -I -c "import skyfast, sys; sys.exit(skyfast.IMPLEMENTATION != 'cython')"
        SKYFAST_REQUIRE_EXTENSIONS=1 python -Im pytest tests -q -p no:cacheprovider
        python -m mypy --strict --python-version "$version" skyfast
    )
    tested+=("$version")
done
echo "::: other Pythons: tested ${tested[*]:-none}; skipped ${skipped[*]:-none}"
