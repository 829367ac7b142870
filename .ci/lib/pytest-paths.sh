# shellcheck shell=bash
# Sourced by .ci/cgroup-v2-vm.sh and .ci/qemu-aarch64.sh: which of the pytest
# arguments a run was given name the tests to run.
#
#   pytest_paths MAP [ARG...]
#
# Reads $repo (the repository) and $orig_cwd (where the script was started).
# Sets pytest_args to the ARGs, in order; an ARG whose path part (the text
# before any '::'; not an option) names an existing file or directory -- an
# absolute path, else one relative to $orig_cwd, else to $repo -- has that
# part made absolute (its directory as `cd` and `pwd` spell it) and handed to
# `MAP ABSOLUTE-PATH PATH-AS-GIVEN`, a function that sets REPLY to what
# replaces the part (a '::test_y' after it stays).  Sets have_path to 1 when
# any ARG was such a path, else 0: the caller's default selection applies.
pytest_paths() {
    local map="$1" a p abs
    shift
    pytest_args=()
    have_path=0
    for a in "$@"; do
        p="${a%%::*}"
        if [ -n "$p" ] && [ "${p#-}" = "$p" ]; then
            abs=""
            if [ "${p#/}" != "$p" ]; then
                if [ -e "$p" ]; then abs="$p"; fi
            elif [ -e "$orig_cwd/$p" ]; then abs="$orig_cwd/$p"
            elif [ -e "$repo/$p" ]; then abs="$repo/$p"
            fi
            if [ -n "$abs" ]; then
                "$map" "$(cd "$(dirname "$abs")" && pwd)/$(basename "$abs")" "$p"
                a="$REPLY${a#"$p"}"
                have_path=1
            fi
        fi
        pytest_args+=("$a")
    done
}
