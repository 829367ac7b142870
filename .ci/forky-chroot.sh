#!/usr/bin/env bash
# Run skyfast's test suite under the CPythons of Debian "forky" (testing) --
# 3.14 and 3.15 -- from a debootstrap chroot, so that interpreters newer than
# the host's (bookworm: 3.11) can be tested without pyenv or a network other
# than deb.debian.org and PyPI.
#
#   .ci/forky-chroot.sh setup [DIR]             build (or refresh) the chroot
#   .ci/forky-chroot.sh test 3.14|3.15 [ARGS]   install this tree, run pytest ARGS
#   .ci/forky-chroot.sh exec CMD [ARGS]         run one command inside (debugging)
#   .ci/forky-chroot.sh umount                  undo mounts a killed run left behind
#
# DIR defaults to $SKYFAST_FORKY_DIR or /var/cache/skyfast/forky and is reused
# when present.  Needs root (debootstrap, chroot, mount).  Every run mounts
# /proc, /sys and /dev inside the chroot and unmounts them on exit, however the
# run ends.
#
# Environment: SKYFAST_FORKY_DIR (chroot dir), SKYFAST_FORKY_MIRROR (Debian
# mirror), SKYFAST_FRESH_VENV=1 (rebuild the test venv instead of reusing it),
# SKYFAST_WHEELHOUSE=DIR (test the release wheel from DIR, .ci/build-wheels.sh's
# output, instead of building the tree inside).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
mirror="${SKYFAST_FORKY_MIRROR:-http://deb.debian.org/debian}"
default_dir="${SKYFAST_FORKY_DIR:-/var/cache/skyfast/forky}"
# Everything the tests need inside: both interpreters with venv (ensurepip) and
# headers (the Cython extension is compiled against them), a C compiler, CA
# certificates for pip's HTTPS, and strace, which the reliability tests use
# (they skip without it; the host has it).  All of these are in forky's main component
# (python3.15 3.15.0-1 was there when this was written, so no unstable or
# experimental source is needed).
packages="python3.14,python3.14-venv,python3.14-dev,python3.15,python3.15-venv,python3.15-dev,gcc,libc6-dev,ca-certificates,strace"
# Inside the chroot: the source copy, the venvs and the empty run directory.
src_in=/root/skyfast-src
marker=.skyfast-forky-ready   # written last by setup: the chroot is complete

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mount)"

# --- mounts ------------------------------------------------------------------
# /proc and /sys: skyfast reads procfs, sysconf and the cgroup files, and the
# tests compare it with SkyPilot reading the same ones, so the chroot must see
# the host's (recursive binds, so /sys/fs/cgroup/* and /dev/shm, /dev/pts come
# along -- multiprocessing needs /dev/shm).  --make-rslave stops an unmount
# inside from propagating back to the host's mounts.
# The chroot directory is also bind-mounted on itself: then "/" inside is a
# mount point, which `unshare --mount --propagation private` (the bind-mounted
# /proc/meminfo test) needs -- otherwise it fails with EINVAL and the test skips.
mounted=()
mount_all() {   # $1 = chroot dir
    local d="$1" m
    if ! mountpoint -q "$d"; then
        mount --bind "$d" "$d"
        mount --make-rslave "$d"
        mounted+=("$d")
    fi
    for m in proc sys dev; do
        mountpoint -q "$d/$m" && continue   # left by an earlier run: reuse
        mkdir -p "$d/$m"
        mount --rbind "/$m" "$d/$m"
        mount --make-rslave "$d/$m"
        mounted+=("$d/$m")
    done
}
umount_all() {   # undo what this run mounted, innermost first; never fails
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" 2>/dev/null || true
    done
    mounted=()
}
trap umount_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chroot_dir() {   # the chroot given on the command line or the default
    local d="${1:-$default_dir}"
    mkdir -p "$(dirname "$d")"
    echo "$(cd "$(dirname "$d")" && pwd)/$(basename "$d")"
}

require_ready() {
    [ -f "$1/$marker" ] || die "no ready chroot at $1: run '$0 setup $1' first"
}

# --- setup -------------------------------------------------------------------
cmd_setup() {
    local dir tmp start=$SECONDS
    dir="$(chroot_dir "${1:-}")"
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap on the host"
        apt-get update -qq
        apt-get install -y -qq debootstrap >/dev/null
    fi
    if [ ! -f "$dir/$marker" ]; then
        # Bootstrap into a side directory and rename at the end, so a killed
        # setup never leaves a half-built chroot where a run would find it.
        tmp="$dir.partial"
        if [ -e "$tmp" ]; then
            log "removing the half-built $tmp of an earlier setup"
            local m
            for m in proc sys dev; do umount -R -l "$tmp/$m" 2>/dev/null || true; done
            rm -rf --one-file-system "$tmp"
        fi
        # The host's debootstrap may predate forky and have no script for it:
        # forky (testing) bootstraps exactly like sid, so use sid's script.
        local script=""
        [ -e "/usr/share/debootstrap/scripts/forky" ] || script=/usr/share/debootstrap/scripts/sid
        log "debootstrap forky into $tmp (minbase + $packages)"
        debootstrap --variant=minbase --include="$packages" \
            forky "$tmp" "$mirror" $script
        [ -e "$dir" ] && rm -rf --one-file-system "$dir"   # a marker-less leftover
        mv "$tmp" "$dir"
    else
        log "reusing the chroot at $dir"
    fi

    # A snapshot mirror serves a Release file whose Valid-Until has passed;
    # apt would then refuse it.  The signature is still checked.
    echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/99skyfast-no-valid-until"
    # Trust the host's local CAs too (e.g. an HTTPS-intercepting egress proxy
    # in front of PyPI): copy them in and rebuild the chroot's bundle.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        mkdir -p "$dir/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    fi

    # On reuse (or if --include missed anything) bring the packages up to date;
    # apt-get is idempotent, so a ready chroot costs one index download.
    mount_all "$dir"
    in_chroot "$dir" apt-get update -qq
    in_chroot "$dir" apt-get install -y -qq --no-install-recommends ${packages//,/ } >/dev/null
    in_chroot "$dir" update-ca-certificates >/dev/null
    in_chroot "$dir" apt-get clean
    umount_all
    touch "$dir/$marker"
    local v
    for v in 3.14 3.15; do
        log "python$v: $(chroot "$dir" "/usr/bin/python$v" -VV | head -1)"
    done
    log "setup done in $((SECONDS - start)) s: $dir"
}

# --- test --------------------------------------------------------------------
cmd_test() {
    local version="${1:-}" dir start=$SECONDS
    case "$version" in
        3.1[0-9]) ;;
        *) die "usage: $0 test 3.14|3.15 [pytest args]" ;;
    esac
    shift
    dir="$(chroot_dir "")"
    require_ready "$dir"
    [ -x "$dir/usr/bin/python$version" ] || die "python$version is not in the chroot"

    # The tree to test: tracked files plus new untracked ones that are not
    # ignored (so build/, *.so, *.egg-info and caches stay out), as they are on
    # disk now.  A fresh copy every run: nothing stale can be built or imported.
    log "copying $repo ($(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')) into $dir$src_in"
    rm -rf --one-file-system "$dir$src_in"
    copy_tree "$repo" "$dir$src_in"

    mount_all "$dir"
    local venv="/root/venv-$version"
    [ "${SKYFAST_FRESH_VENV:-0}" = 1 ] && rm -rf --one-file-system "$dir$venv"
    # (pyvenv.cfg, not bin/python: that is a symlink to /usr/bin/pythonX.Y,
    # which resolves against the host's root when tested from outside.)
    if [ ! -f "$dir$venv/pyvenv.cfg" ]; then
        log "creating $venv with python$version"
        in_chroot "$dir" "python$version" -m venv "$venv"
        in_chroot "$dir" "$venv/bin/python" -m pip install -q --upgrade pip
    fi

    # The extras of the README's command.  If the reference SkyPilot cannot be
    # installed on this interpreter (a dependency without a wheel that needs a
    # compiler or Rust), fall back to [test] -- the reference tests then skip --
    # and keep pip's log so the report can say which dependency failed.
    # SKYFAST_WHEELHOUSE: install the release wheel for this version from there
    # (built by .ci/build-wheels.sh) instead of building the tree in the chroot.
    local t0=$SECONDS extras="test,reference" target="." wheel
    if [ -n "${SKYFAST_WHEELHOUSE:-}" ]; then
        local tag="cp${version/./}"
        wheel="$(ls "$SKYFAST_WHEELHOUSE"/skyfast-*-"$tag"-"$tag"-manylinux2014_x86_64*.whl)" \
            || die "no $tag x86_64 wheel in $SKYFAST_WHEELHOUSE"
        cp "$wheel" "$dir$src_in/"
        target="./$(basename "$wheel")"
        in_chroot "$dir" "$venv/bin/python" -m pip uninstall -q -y skyfast 2>/dev/null || true
    fi
    log "pip install ${target}[$extras] (SKYFAST_REQUIRE_EXTENSIONS=1)"
    if [ "$target" != "." ]; then   # the wheel replaces whatever skyfast the venv had
        in_chroot "$dir" sh -c "cd $src_in && $venv/bin/python -m pip install -q \
            --force-reinstall --no-deps '$target'"
    fi
    if ! in_chroot "$dir" sh -c "cd $src_in && SKYFAST_REQUIRE_EXTENSIONS=1 \
            $venv/bin/python -m pip install -q '${target}[test,reference]' \
            >/root/pip-$version.log 2>&1"; then
        log "pip install .[test,reference] FAILED on $version; tail of its log ($dir/root/pip-$version.log):"
        tail -n 40 "$dir/root/pip-$version.log" >&2
        extras="test"
        log "falling back to pip install .[test]"
        in_chroot "$dir" sh -c "cd $src_in && SKYFAST_REQUIRE_EXTENSIONS=1 \
            $venv/bin/python -m pip install -q '${target}[test]'"
    fi
    log "install took $((SECONDS - t0)) s"
    in_chroot "$dir" "$venv/bin/python" -I -c \
        'import sys, skyfast; print("::: skyfast", skyfast.__version__, skyfast.IMPLEMENTATION, "on", sys.version.split()[0], file=sys.stderr)'
    if [ "$extras" = test ]; then
        log "NOTE: reference SkyPilot NOT installed: the reference tests skip"
    fi

    # -I and an empty working directory: the installed build is what gets
    # imported, never the source tree.
    t0=$SECONDS
    local rc=0
    # shellcheck disable=SC2016   # (expanded by the chroot's sh)
    in_chroot "$dir" sh -c 'run=$(mktemp -d) && cd "$run" && \
        SKYFAST_REQUIRE_EXTENSIONS=1 exec "$0" -Im pytest "$@"' \
        "$venv/bin/python" "$src_in/tests" -q -p no:cacheprovider "$@" || rc=$?
    log "python $version: pytest exit $rc in $((SECONDS - t0)) s (whole run $((SECONDS - start)) s)"
    return "$rc"
}

cmd_exec() {
    local dir
    dir="$(chroot_dir "")"
    require_ready "$dir"
    [ $# -gt 0 ] || die "usage: $0 exec CMD [ARGS]"
    mount_all "$dir"
    local rc=0
    in_chroot "$dir" "$@" || rc=$?
    return "$rc"
}

cmd_umount() {   # after a SIGKILLed run: the trap could not unmount
    local dir m
    dir="$(chroot_dir "${1:-}")"
    for m in dev sys proc ""; do
        mountpoint -q "$dir/$m" && { umount -R "$dir/$m" || umount -R -l "$dir/$m"; }
    done
    return 0
}

case "${1:-}" in
    setup) shift; cmd_setup "$@" ;;
    test) shift; cmd_test "$@" ;;
    exec) shift; cmd_exec "$@" ;;
    umount) shift; cmd_umount "$@" ;;
    *) usage_from_header ;;
esac
