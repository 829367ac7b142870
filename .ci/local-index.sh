#!/usr/bin/env bash
# `pip install skyfast` picks the right file of the release set, on its own.
#
#   .ci/local-index.sh WHEELHOUSE      (the output of .ci/build-wheels.sh)
#
# Serves WHEELHOUSE as a PEP 503 simple index (simple/skyfast/index.html and
# the files, python -m http.server on a free port of 127.0.0.1, stopped at the
# end) and, for CPython 3.9-3.13 (pyenv or pythonX.Y on PATH) and 3.14/3.15
# (the Debian forky chroot of .ci/forky-chroot.sh, which shares this host's
# network, so its pip reaches the same 127.0.0.1 server), in a fresh venv with
# the pip that interpreter ships:
#
#   pip install --index-url http://127.0.0.1:PORT/simple/ skyfast
#
# with no other option: the sdist, the py3-none-any wheel and every
# manylinux2014 wheel are on offer, and pip alone must take the cp3X
# manylinux2014 wheel for this machine (pip's --report names the file), whose
# skyfast then says IMPLEMENTATION == 'cython'.  No pip configuration file or
# PIP_* variable applies (the host's find-links or extra indexes could offer
# other files), and nothing but the local index is reached.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 WHEELHOUSE" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
house="$(cd "$1" && pwd)"
arch="$(uname -m)"
work="$(mktemp -d "${TMPDIR:-/tmp}/skyfast-local-index.XXXXXX")"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS

# --- the index -----------------------------------------------------------
# The whole release set, as a release on PyPI would offer it.
shopt -s nullglob
files=("$house"/skyfast-*.whl "$house"/skyfast-*.tar.gz)
shopt -u nullglob
pures=("$house"/skyfast-*-py3-none-any.whl)
sdists=("$house"/skyfast-*.tar.gz)
if [ ! -f "${pures[0]}" ] || [ ! -f "${sdists[0]}" ]; then
    die "$house lacks the sdist or the pure wheel: the choice would prove less"
fi
mkdir -p "$work/root/simple/skyfast"
{
    echo '<!DOCTYPE html><html><body>'
    for f in "${files[@]}"; do
        name="$(basename "$f")"
        ln -s "$f" "$work/root/simple/skyfast/$name"
        echo "<a href=\"$name#sha256=$(sha256sum "$f" | cut -d' ' -f1)\">$name</a><br>"
    done
    echo '</body></html>'
} >"$work/root/simple/skyfast/index.html"
echo '<!DOCTYPE html><html><body><a href="skyfast/">skyfast</a></body></html>' \
    >"$work/root/simple/index.html"
echo "::: index of ${#files[@]} files from $house"

# Port 0: the kernel picks a free port and the server prints it.
python3 -u -m http.server --bind 127.0.0.1 --directory "$work/root" 0 \
    >"$work/server.log" 2>&1 &
server=$!
port=""
for _ in $(seq 100); do
    port="$(sed -n 's/^Serving HTTP on .* port \([0-9][0-9]*\) .*/\1/p' "$work/server.log")"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; die "http.server did not start"; }
    sleep 0.1
done
[ -n "$port" ] || die "http.server printed no port"
url="http://127.0.0.1:$port/simple/"
echo "::: serving $url (pid $server)"

# --- one interpreter -------------------------------------------------------
# Run by sh, on the host or in the chroot: a fresh venv in $2 (removed after),
# the install, then one line: the file pip took, IMPLEMENTATION, skyfast's path.
# shellcheck disable=SC2016  # expanded by that sh, not here
probe='set -eu
py="$1" venv="$2" url="$3"
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --index-url "$url" --report "$venv/report.json" skyfast
cd "$venv"
"$venv/bin/python" -I -c "import json, os, sys, skyfast
[url] = [i[\"download_info\"][\"url\"] for i in json.load(open(sys.argv[1]))[\"install\"]
         if i[\"metadata\"][\"name\"] == \"skyfast\"]
print(os.path.basename(url), skyfast.IMPLEMENTATION, skyfast.__file__)" "$venv/report.json"
cd /
rm -rf "$venv"'
# The environment pip gets: no configuration file, no PIP_* of the caller.
clean_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8
    PIP_CONFIG_FILE=/dev/null PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1)

results=()
check() {   # $1 = 3.11, then the command that runs the probe's sh with its arguments
    local ver="$1" tag line taken impl where want matches
    shift
    tag="cp${ver/./}"
    line="$("$@" | tail -n 1)" || die "$tag: the install or the import failed (above)"
    read -r taken impl where <<<"$line"
    echo "::: $ver: pip took $taken; skyfast.IMPLEMENTATION = $impl ($where)"
    matches=("$house/skyfast-"*"-$tag-$tag-manylinux2014_$arch."*".whl")
    [[ ${#matches[@]} -eq 1 && -f "${matches[0]}" ]] || die "$tag: no manylinux2014 $arch wheel in $house"
    want="$(basename "${matches[0]}")"
    [ "$taken" = "$want" ] || die "$tag: pip took $taken, not $want"
    [ "$impl" = cython ] || die "$tag: IMPLEMENTATION is $impl, not cython"
    results+=("$ver $taken $impl")
}

for ver in 3.9 3.10 3.11 3.12 3.13; do
    exe="$(find_python "$ver")"
    [ -n "$exe" ] || die "no Python $ver interpreter (pyenv or python$ver on PATH)"
    exe="$("$exe" -c 'import sys; print(sys.executable)')"   # not pyenv's shim: the env is clean
    check "$ver" "${clean_env[@]}" sh -c "$probe" sh "$exe" "$work/venv-$ver" "$url"
done

# 3.14 and 3.15: the forky chroot (set up once; `setup` refreshes a ready one,
# which the later CI step does anyway).
forky=(bash "$repo/.ci/forky-chroot.sh")
"${forky[@]}" exec true 2>/dev/null || "${forky[@]}" setup
for ver in 3.14 3.15; do
    check "$ver" "${forky[@]}" exec "${clean_env[@]}" sh -c "$probe" sh \
        "/usr/bin/python$ver" "/tmp/skyfast-local-index-$ver" "$url"
done

echo "::: pip install skyfast from the local index, $arch:"
printf '  %s\n' "${results[@]}"
echo "::: local index check passed in $((SECONDS - start)) s"
