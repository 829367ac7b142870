"""Fetch one CPython dev package from Debian and unpack its headers (cached).

    python debian_headers.py --cache DIR SUITE ARCH PACKAGE
    e.g. ... bookworm arm64 libpython3.11-dev

Prints the directory that holds the unpacked ``usr/include``.  Used by
.ci/build-wheels.sh to get the Python headers for a (Python, architecture)
pair that no interpreter on this machine provides -- most of all the arm64
ones, whose pyconfig.h (under include/aarch64-linux-gnu/python3.X/) describes
the target, not this machine.

Only the standard library: no apt configuration is touched (no added
architecture or suite), the .deb is taken from the suite's Packages index and
checked against the SHA256 listed there, and only ``./usr/include/`` is
extracted (the .deb is an ar archive holding data.tar.xz).  Everything lands
under DIR, so a second run needs no network.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

MIRROR = os.environ.get("SKYFAST_DEBIAN_MIRROR", "https://deb.debian.org/debian").rstrip("/")
# Debian replaces .debs in place when a suite is updated (the old file leaves the
# pool), so an index older than this is fetched again before it is trusted.
INDEX_MAX_AGE = 24 * 3600


def log(msg: str) -> None:
    print(f"debian_headers: {msg}", file=sys.stderr, flush=True)


def fetch(url: str) -> bytes:
    last: Exception | None = None
    for attempt in range(3):  # a mirror hiccup should not fail a release build
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise
            last = exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc
        time.sleep(2 * (attempt + 1))
    raise RuntimeError(f"cannot fetch {url}: {last}")


def index(cache: Path, suite: str, arch: str, refresh: bool) -> str:
    path = cache / "index" / f"{suite}_main_{arch}_Packages"
    fresh = path.exists() and time.time() - path.stat().st_mtime < INDEX_MAX_AGE
    if refresh or not fresh:
        url = f"{MIRROR}/dists/{suite}/main/binary-{arch}/Packages.xz"
        log(f"index {url}")
        text = lzma.decompress(fetch(url)).decode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path.read_text(encoding="utf-8")


def lookup(text: str, package: str) -> dict[str, str] | None:
    for stanza in text.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
            fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M))
            return fields
    return None


def ar_members(data: bytes) -> dict[str, bytes]:
    """The members of a .deb (a plain System V ar archive)."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    pos, out = 8, {}
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)  # members are padded to an even offset
    return out


def extract_includes(deb: Path, dest: Path) -> None:
    members = ar_members(deb.read_bytes())
    name = next((n for n in members if n.startswith("data.tar")), None)
    if name is None:
        raise ValueError(f"{deb.name}: no data.tar member")
    if name.endswith(".zst"):
        raise ValueError(f"{deb.name}: zstd-compressed data ({name}); the standard library "
                         "cannot read it (dpkg-deb -x can)")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*") as tar:
        chosen = []
        for m in tar.getmembers():
            norm = os.path.normpath(m.name.lstrip("./"))
            # Headers only; nothing that could point outside the tree.
            if not norm.startswith("usr/include/") or m.issym() or m.islnk():
                continue
            if m.isfile() or m.isdir():
                m.name = norm
                chosen.append(m)
        # The 'data' filter where this Python has it (3.12+, backported to
        # some older patch releases); the member list above is safe either way.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, members=chosen, filter="data")
        else:
            tar.extractall(tmp, members=chosen)
    if not any(tmp.glob("usr/include/python3*/Python.h")):
        raise ValueError(f"{deb.name}: no usr/include/python3.*/Python.h inside")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("suite")
    ap.add_argument("arch")
    ap.add_argument("package")
    args = ap.parse_args()
    cache = args.cache / "debian"

    for refresh in (False, True):
        fields = lookup(index(cache, args.suite, args.arch, refresh), args.package)
        if fields is None:
            if refresh:
                log(f"{args.package} is not in {args.suite}/main/binary-{args.arch}")
                return 2
            continue
        filename, sha256 = fields["Filename"], fields["SHA256"]
        deb = cache / "debs" / Path(filename).name
        dest = cache / "root" / deb.stem
        if (dest / "usr" / "include").is_dir():
            print(dest)
            return 0
        if not (deb.exists() and hashlib.sha256(deb.read_bytes()).hexdigest() == sha256):
            log(f"download {filename} ({fields.get('Version')})")
            try:
                data = fetch(f"{MIRROR}/{filename}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and not refresh:
                    continue  # superseded since the cached index was taken: refresh it
                raise
            if hashlib.sha256(data).hexdigest() != sha256:
                log(f"{filename}: SHA256 does not match the index")
                return 1
            deb.parent.mkdir(parents=True, exist_ok=True)
            deb.with_suffix(".tmp").write_bytes(data)
            deb.with_suffix(".tmp").replace(deb)
        extract_includes(deb, dest)
        print(dest)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
