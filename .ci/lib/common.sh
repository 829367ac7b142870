# shellcheck shell=bash
# The shell helpers of .ci/*.sh, defined once.  Sourced, after the script has
# set $repo:
#
#   # shellcheck source=lib/common.sh source-path=SCRIPTDIR
#   . "$repo/.ci/lib/common.sh"
#
# Defines no variable a script reads except ci_script (the script's name, for
# messages); step() keeps its state in step_name and step_start.

ci_script="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"

# step NAME: close the open step, printing "::: [N s] ITS NAME" (N its seconds),
# and open NAME, printing "::: NAME".  `step ""` only closes.  Those lines are
# the CI's record of where the time went: keep their format.
step_name=""
step_start=$SECONDS
step() {
    [ -z "$step_name" ] || echo "::: [$((SECONDS - step_start)) s] $step_name"
    step_name="$*"
    step_start=$SECONDS
    [ -z "$step_name" ] || echo "::: $step_name"
}

# log MSG: "::: MSG" on stderr; "::: [  N s] MSG" when the script has set
# log_clock to a $SECONDS value (N: the seconds since).
log() {
    if [ -n "${log_clock:-}" ]; then
        printf '::: [%3d s] %s\n' "$((SECONDS - log_clock))" "$*" >&2
    else
        printf '::: %s\n' "$*" >&2
    fi
}

# die MSG: "SCRIPT: MSG" on stderr, exit 1.
die() {
    printf '%s: %s\n' "$ci_script" "$*" >&2
    exit 1
}

# usage_from_header: the script's opening comment (line 2 up to `set -euo`),
# unprefixed, on stderr; exit 2.
usage_from_header() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[-1]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# find_python X.Y: the path of a CPython X.Y that runs, or nothing (status 0
# either way, so `exe="$(find_python 3.9)"` is safe under set -e).
# Order: pyenv's own versions (${PYENV_ROOT:-~/.pyenv}/versions/X.Y.*, the
# first that runs), then pythonX.Y on PATH.  pyenv's shims, early on this
# machine's PATH, exist for every installed version but fail for one that is
# not selected, and where they run they only exec the binary the versions
# directory holds; that binary's own path also runs under `env -i` and is
# what a venv records.  PATH stays the way to any other interpreter (a
# distribution's python3.X, a hosted runner's).  Every caller (build-wheels,
# local-index, matrix, qemu-aarch64) needs any working interpreter of exactly
# that version (headers, a venv, marker evaluation): the order only makes the
# pick the same for all of them.
find_python() {
    local exe
    for exe in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1" \
               "$(command -v "python$1" || true)"; do
        if [ -n "$exe" ] && [ -x "$exe" ] && "$exe" -c '' 2>/dev/null; then
            echo "$exe"
            return 0
        fi
    done
    return 0
}

# debian_suite X.Y: the Debian suite whose main archive has CPython X.Y
# (python3.X, libpython3.X-dev, for amd64 and arm64); status 1 for none.
debian_suite() {
    case "$1" in
        3.9) echo bullseye ;;
        3.11) echo bookworm ;;
        3.13) echo trixie ;;
        3.14 | 3.15) echo forky ;;   # testing: versions move, indexes are refreshed daily
        *) return 1 ;;
    esac
}

# copy_tree SRC DEST: what a fresh clone of SRC's working state would hold --
# tracked files and untracked ones that are not ignored, as they are on disk
# (so no build products: *.so, generated C, build/, caches) -- into DEST.
# A tracked file deleted on disk is left out.
copy_tree() {
    mkdir -p "$2"
    (cd "$1" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -C "$2" -xf -
}

# in_chroot [--private-mounts] DIR CMD...: CMD chrooted in DIR with a clean
# environment: the caller's PIP_*, PYTHON* and the like must not leak in (a
# host's find-links or indexes do not exist inside); proxies pass.  Extra
# VAR=VALUE words before CMD join that environment (env(1) reads them).  DIR
# gets the host's resolv.conf each time, so DNS works wherever it was built.
# --private-mounts: /proc and /dev mounted in DIR for this command only, in a
# mount namespace of its own (else the caller mounts what CMD needs).
in_chroot() {
    local private=0 dir
    if [ "$1" = --private-mounts ]; then private=1; shift; fi
    dir="$1"
    shift
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    local -a cmd=(/usr/bin/env -i
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
        ${http_proxy:+http_proxy="$http_proxy"} ${https_proxy:+https_proxy="$https_proxy"}
        ${no_proxy:+no_proxy="$no_proxy"} "$@")
    if [ "$private" = 1 ]; then
        # shellcheck disable=SC2016   # (expanded by the inner sh)
        unshare --mount --propagation private sh -c '
            r="$1"; shift
            mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" || exit 1
            exec chroot "$r" "$@"' sh "$dir" "${cmd[@]}"
    else
        chroot "$dir" "${cmd[@]}"
    fi
}

# take_lock FD FILE: flock FD (opened on FILE by the caller), saying so when
# another run holds it and this one waits.
take_lock() {
    flock -n "$1" && return 0
    log "another $ci_script run holds $2: waiting"
    flock "$1"
}
