"""Debian arm64 sysroots and an amd64 qemu-aarch64-static, from .debs (not installed).

    python sysroot.py --cache DIR qemu
        unpack trixie's amd64 qemu-aarch64 (static; SKYFAST_QEMU_SUITE picks
        another suite); print its path
    python sysroot.py --cache DIR python SUITE X.Y
        make DIR/arm64/SUITE hold Debian's arm64 CPython X.Y and everything it
        needs to run (Depends/Pre-Depends, recursively); print the sysroot

Used by .ci/qemu-aarch64.sh.  Only the standard library plus `dpkg-deb -x`:
no apt configuration is touched (no foreign architecture, no added suite).
The Packages index of SUITE/main/binary-ARCH is read over HTTP (Release files
are not read, so an expired Valid-Until -- forky's, sometimes -- does not
matter), each .deb is taken from the pool and checked against the SHA256 the
index lists.  Indexes and .debs are cached under DIR/debian (the same layout
as .ci/wheels/debian_headers.py, so the two share downloads); an index older
than a day is fetched again, and at once when a listed .deb has left the pool.

The sysroot is merged-/usr (lib, bin, sbin are symlinks into usr/), whatever
layout a suite's packages use, and absolute symlinks inside it are made
relative, so that a lookup qemu redirects into the sysroot never lands on a
host (x86_64) file.  One sysroot per suite is shared by the Pythons of that
suite (forky: 3.14 and 3.15); each unpacked package leaves a stamp in
SYSROOT/.skyfast-debs/, so a second run downloads and unpacks nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Set

# The Debian mirror, fetching with retries and the cached Packages indexes are
# those of the wheel build's header fetcher.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "wheels"))
from debian_headers import MIRROR, fetch, index

# Never unpacked: maintainer-script machinery, data the interpreter does not
# need to run the tests, and packages that only exist to configure a system.
# (A dependency on one of these is dropped, not followed.)
SKIP = {
    "debconf", "debconf-2.0", "cdebconf", "perl-base", "dpkg", "install-info",
    "init-system-helpers", "base-files", "base-passwd", "debianutils",
    "sensible-utils", "adduser", "passwd", "lsb-base", "sysvinit-utils",
    "usrmerge", "usr-is-merged", "libc-bin", "tzdata", "tzdata-legacy",
    "media-types", "mime-support", "netbase", "readline-common",
    "libpam-modules", "libpam-modules-bin", "libpam-runtime", "libpam0g",
    "libsemanage-common", "libsemanage2", "libaudit-common", "libaudit1",
    "libcap-ng0", "libselinux1", "coreutils", "bash", "dash", "sed", "grep",
    "python3.9-doc", "python3.11-doc", "python3.13-doc", "python3.14-doc",
    "python3.15-doc",
}
# One CPython X.Y (python3.X depends on python3.X-minimal and
# libpython3.X-stdlib, which pull in the rest), plus libstdc++6: the manylinux
# policy lets wheels take libstdc++.so.6 from the system (greenlet, one of
# SkyPilot's dependencies, does), and no CPython package depends on it.
ROOTS = ["python{v}", "python{v}-minimal", "libpython{v}-minimal", "libpython{v}-stdlib",
         "libstdc++6"]


def log(msg: str) -> None:
    print(f"aarch64-sysroot: {msg}", file=sys.stderr, flush=True)


class Index:
    """The Packages index of SUITE/main/binary-ARCH, parsed."""

    def __init__(self, cache: Path, suite: str, arch: str) -> None:
        self.cache, self.suite, self.arch = cache, suite, arch
        self.load(refresh=False)

    def load(self, refresh: bool) -> None:
        # The index itself is debian_headers.index()'s (fetched, cached, refreshed
        # when old); whether this call refreshed it shows in the file's mtime.
        path = self.cache / "index" / f"{self.suite}_main_{self.arch}_Packages"
        before = path.stat().st_mtime_ns if path.exists() else None
        text = index(self.cache, self.suite, self.arch, refresh)
        self.refreshed = path.stat().st_mtime_ns != before
        self.packages: Dict[str, Dict[str, str]] = {}
        self.provides: Dict[str, List[str]] = {}
        for stanza in text.split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M))
            name = fields.get("Package")
            if not name or name in self.packages:
                continue
            self.packages[name] = fields
            for prov in split_deps(fields.get("Provides", "")):
                self.provides.setdefault(prov[0], []).append(name)

    def resolve(self, name: str) -> Optional[str]:
        """A real package that satisfies NAME (itself, else its first provider)."""
        if name in self.packages:
            return name
        providers = self.provides.get(name)
        return providers[0] if providers else None


def split_deps(field: str) -> List[List[str]]:
    """'a (>= 1) | b:any, c' -> [['a', 'b'], ['c']] (versions and qualifiers dropped)."""
    out = []
    for group in field.split(","):
        alts = []
        for alt in group.split("|"):
            alt = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip()
            if alt:
                alts.append(alt.split(":")[0])
        if alts:
            out.append(alts)
    return out


def closure(index: Index, roots: List[str]) -> List[str]:
    """ROOTS and their Depends/Pre-Depends, recursively, minus SKIP."""
    seen: Set[str] = set()
    order: List[str] = []
    todo = list(roots)
    while todo:
        want = todo.pop()
        name = index.resolve(want)
        if name is None:
            raise SystemExit(f"aarch64-sysroot: {want} is not in {index.suite}/{index.arch}")
        if name in seen or name in SKIP:
            continue
        seen.add(name)
        order.append(name)
        fields = index.packages[name]
        for group in split_deps(fields.get("Pre-Depends", "") + "," + fields.get("Depends", "")):
            if any(alt in SKIP for alt in group):
                continue
            chosen = next((a for a in group if index.resolve(a)), None)
            if chosen is None:
                raise SystemExit(f"aarch64-sysroot: nothing in {index.suite} satisfies "
                                 f"{' | '.join(group)} (needed by {name})")
            todo.append(chosen)
    return sorted(order)


def download(index: Index, name: str) -> Path:
    for attempt in range(2):
        fields = index.packages[name]
        filename, sha256 = fields["Filename"], fields["SHA256"]
        deb = index.cache / "debs" / Path(filename).name
        if deb.exists() and hashlib.sha256(deb.read_bytes()).hexdigest() == sha256:
            return deb
        log(f"download {Path(filename).name}")
        try:
            data = fetch(f"{MIRROR}/{filename}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and attempt == 0 and not index.refreshed:
                index.load(refresh=True)  # superseded since the index was taken
                continue
            raise
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SystemExit(f"aarch64-sysroot: {filename}: SHA256 does not match the index")
        deb.parent.mkdir(parents=True, exist_ok=True)
        tmp = deb.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(deb)
        return deb
    raise SystemExit(f"aarch64-sysroot: cannot download {name}")


MERGED = ("bin", "sbin", "lib", "lib64")


def make_root(root: Path) -> None:
    (root / "usr").mkdir(parents=True, exist_ok=True)
    for d in MERGED:
        (root / "usr" / d).mkdir(exist_ok=True)
        link = root / d
        if not link.is_symlink():
            if link.exists():
                raise SystemExit(f"aarch64-sysroot: {link} is not a symlink (old layout?): "
                                 "remove the sysroot and run again")
            link.symlink_to(f"usr/{d}")


def merge(src: Path, root: Path) -> None:
    """Move the unpacked tree SRC into ROOT, merged-/usr, absolute symlinks made relative."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        parts = rel.parts
        if parts and parts[0] in MERGED:
            rel = Path("usr", *parts)
        dest_dir = root / rel
        dest_dir.mkdir(parents=True, exist_ok=True)
        entries = list(filenames)
        # os.walk lists symlinks to directories among dirnames: move those as links.
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                entries.append(d)
        for f in entries:
            s = os.path.join(dirpath, f)
            d = dest_dir / f
            if os.path.islink(s):
                target = os.readlink(s)
                if target.startswith("/"):
                    tparts = Path(target).parts[1:]
                    if tparts and tparts[0] in MERGED:
                        tparts = ("usr", *tparts)
                    target = os.path.relpath(root.joinpath(*tparts), dest_dir)
                if d.is_symlink() or d.exists():
                    if d.is_dir() and not d.is_symlink():
                        continue  # a real directory wins over a compatibility link
                    d.unlink()
                os.symlink(target, d)
            else:
                if d.is_symlink() or (d.exists() and not d.is_dir()):
                    d.unlink()
                os.replace(s, d)


def unpack(deb: Path, root: Path) -> None:
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".unpack-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        merge(Path(tmp), root)


def install(index: Index, names: List[str], root: Path) -> None:
    stamps = root / ".skyfast-debs"
    stamps.mkdir(parents=True, exist_ok=True)
    make_root(root)
    for name in names:
        version = index.packages[name]["Version"].replace(":", "%3a")
        stamp = stamps / f"{name}_{version}"
        if stamp.exists():
            continue
        deb = download(index, name)
        log(f"unpack {deb.name}")
        unpack(deb, root)
        stamp.touch()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, type=Path)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("qemu")
    p = sub.add_parser("python")
    p.add_argument("suite")
    p.add_argument("version")
    args = ap.parse_args()
    cache = args.cache.resolve()

    if args.cmd == "qemu":
        # trixie's qemu 10.0, not bookworm's 7.2: forky's glibc (3.14, 3.15) asks
        # terminals for their settings with TCGETS2, which 7.2 does not emulate
        # (os.ttyname and termios then fail with ENOSYS).
        suite = os.environ.get("SKYFAST_QEMU_SUITE", "trixie")
        root = cache / "qemu" / suite
        exe = root / "usr" / "bin" / "qemu-aarch64-static"
        if not exe.exists():
            index = Index(cache / "debian", suite, "amd64")
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            # Up to bookworm qemu-user-static holds the static binary; from trixie
            # on it only links to qemu-user's, which is static itself.
            for name in ("qemu-user-static", "qemu-user"):
                if name not in index.packages:
                    continue
                deb = download(index, name)
                with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
                    subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
                    bindir = Path(tmp) / "usr" / "bin"
                    for candidate in (bindir / "qemu-aarch64-static", bindir / "qemu-aarch64"):
                        if candidate.is_file() and not candidate.is_symlink():
                            log(f"unpack {deb.name}: {candidate.name}")
                            exe.parent.mkdir(parents=True, exist_ok=True)
                            shutil.move(str(candidate), exe)
                            break
                if exe.exists():
                    break
            else:
                raise SystemExit(f"aarch64-sysroot: no static qemu-aarch64 in {suite}/amd64")
        print(exe)
        return 0

    index = Index(cache / "debian", args.suite, "arm64")
    roots = [r.format(v=args.version) for r in ROOTS]
    names = closure(index, roots)
    root = cache / "arm64" / args.suite
    install(index, names, root)
    if not (root / "usr" / "bin" / f"python{args.version}").exists():
        raise SystemExit(f"aarch64-sysroot: {root}/usr/bin/python{args.version} missing")
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
