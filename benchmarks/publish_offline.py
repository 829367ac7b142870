"""``asv publish``, then make the dashboard load nothing from the internet.

asv 0.6.6's ``index.html`` fetches jQuery, Flot, stupidtable, blueimp-md5
and Bootstrap from CDNs: without internet the page stays blank (and where
the CDNs are slow to refuse, it hangs). This script copies those files from
Debian packages (and one Flot plugin vendored in ``benchmarks/dashboard/``)
into ``<html_dir>/vendor/``, points ``index.html`` at them, and then checks
that no page of the dashboard loads a script, stylesheet, image or frame from
another host (links a reader may click, such as a commit's URL, stay).

    python benchmarks/publish_offline.py            # asv publish, then the rewrite
    python benchmarks/publish_offline.py --no-publish --html-dir .asv/html

The packages (libjs-jquery libghc-js-flot-data libjs-jquery-stupidtable
node-blueimp-md5 libjs-bootstrap, see benchmarks/dashboard/README.md) are
used where installed; otherwise their .debs (with what they depend on that is
architecture-independent: bootstrap's fonts/ link into
fonts-glyphicons-halflings) are taken from Debian bookworm, checked against the
SHA256 its index lists and unpacked, not installed, by the standard library
alone (no apt, no dpkg) under ${SKYFAST_CACHE:-~/.cache/skyfast-build}/
dashboard/.  This fetcher is the dashboard's own: it imports nothing from
.ci/, whose Debian code (sysroots, kernels, headers) serves the release and
its tests.
Exits non-zero when a file is missing even so, when asv's page asks for an
asset this script does not know (a newer asv), or when an external load
remains.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class Asset(NamedTuple):
    url: str  # regex on the CDN URL in asv's index.html
    target: str  # path under <html_dir>/vendor/
    source: str  # file (or directory) to copy
    package: Optional[str]  # the Debian package that has it (None: vendored here)


ASSETS = [
    Asset(r"/jquery-3\.[0-9.]+\.min\.js$", "jquery.min.js",
          "/usr/share/javascript/jquery/jquery.min.js", "libjs-jquery"),
    Asset(r"/flot/0\.8\.3/jquery\.flot\.min\.js$", "jquery.flot.min.js",
          "/usr/share/haskell-js-flot/jquery.flot.min.js", "libghc-js-flot-data"),
    Asset(r"/flot/0\.8\.3/jquery\.flot\.time\.min\.js$", "jquery.flot.time.min.js",
          "/usr/share/haskell-js-flot/jquery.flot.time.min.js", "libghc-js-flot-data"),
    Asset(r"/flot/0\.8\.3/jquery\.flot\.selection\.min\.js$", "jquery.flot.selection.min.js",
          "/usr/share/haskell-js-flot/jquery.flot.selection.min.js", "libghc-js-flot-data"),
    Asset(r"/flot/0\.8\.3/jquery\.flot\.categories\.min\.js$", "jquery.flot.categories.min.js",
          "/usr/share/haskell-js-flot/jquery.flot.categories.min.js", "libghc-js-flot-data"),
    Asset(r"/jquery\.flot\.orderBars\.js$", "jquery.flot.orderBars.js",
          os.path.join(HERE, "dashboard", "jquery.flot.orderBars.js"), None),
    Asset(r"/stupidtable\.min\.js$", "stupidtable.min.js",
          "/usr/share/javascript/jquery-stupidtable/stupidtable.min.js",
          "libjs-jquery-stupidtable"),
    Asset(r"/blueimp-md5/.*/md5\.min\.js$", "md5.min.js",
          "/usr/share/javascript/blueimp-md5/md5.min.js", "node-blueimp-md5"),
    Asset(r"/bootstrap@3\.[0-9.]+/dist/js/bootstrap\.min\.js$", "bootstrap/js/bootstrap.min.js",
          "/usr/share/javascript/bootstrap/js/bootstrap.min.js", "libjs-bootstrap"),
    Asset(r"/bootstrap@3\.[0-9.]+/dist/css/bootstrap\.min\.css$",
          "bootstrap/css/bootstrap.min.css",
          "/usr/share/javascript/bootstrap/css/bootstrap.min.css", "libjs-bootstrap"),
]  # fmt: skip
# Not named by asv's page, but bootstrap.min.css refers to them (../fonts/).
EXTRAS = [("bootstrap/fonts", "/usr/share/javascript/bootstrap/fonts", "libjs-bootstrap")]

TAG = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"[^>]*>(?:</script>)?")
# What a browser fetches by itself when it renders a page (anchors are not fetched).
EXTERNAL_LOAD = re.compile(
    r"<(?:script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)="
    r"[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


DEBIAN_SUITE = "bookworm"  # the versions benchmarks/dashboard/README.md lists
DEBIAN_MIRROR = os.environ.get("SKYFAST_DEBIAN_MIRROR", "https://deb.debian.org/debian").rstrip("/")
# A point release replaces .debs in the pool: an older index is fetched again.
INDEX_MAX_AGE = 24 * 3600


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        data: bytes = response.read()
    return data


def debian_index(cache: Path, refresh: bool) -> Dict[str, Dict[str, str]]:
    """Package name -> fields, from the suite's index of architecture-independent packages."""
    path = cache / f"{DEBIAN_SUITE}_main_all_Packages"
    if refresh or not path.exists() or time.time() - path.stat().st_mtime > INDEX_MAX_AGE:
        url = f"{DEBIAN_MIRROR}/dists/{DEBIAN_SUITE}/main/binary-all/Packages.xz"
        text = lzma.decompress(fetch(url)).decode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(text, encoding="utf-8")
        path.with_suffix(".tmp").replace(path)
    packages: Dict[str, Dict[str, str]] = {}
    for stanza in path.read_text(encoding="utf-8").split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M))
        if "Package" in fields:
            packages.setdefault(fields["Package"], fields)
    return packages


def with_dependencies(index: Dict[str, Dict[str, str]], names: List[str]) -> List[str]:
    """NAMES and, recursively, their dependencies that the index has (the first alternative).

    A dependency the index lacks is architecture-specific (an interpreter, a
    library) and holds no web asset: it is left out.
    """
    for name in names:
        if name not in index:
            raise SystemExit(f"{name} is not in Debian {DEBIAN_SUITE}/main/binary-all")
    found: List[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found or name not in index:
            continue
        found.append(name)
        for group in index[name].get("Depends", "").split(","):
            first = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", group.split("|")[0]).strip()
            if first:
                todo.append(first.split(":")[0])
    return sorted(found)


def unpack(deb: bytes, root: Path) -> None:
    """The files and symbolic links of a .deb's data.tar.* into ROOT (an ar archive; no dpkg)."""
    if not deb.startswith(b"!<arch>\n"):
        raise SystemExit("not a .deb (no ar archive)")
    pos, data = 8, None
    while pos + 60 <= len(deb):  # a 60-byte header per member: name, ..., size
        header, pos = deb[pos : pos + 60], pos + 60
        size = int(header[48:58])
        if header[:16].decode().strip().rstrip("/").startswith("data.tar"):
            data = deb[pos : pos + size]
        pos += size + (size & 1)  # members start at even offsets
    if data is None:
        raise SystemExit("a .deb without data.tar")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar.getmembers():
            path = os.path.normpath(member.name.lstrip("/"))  # ./usr/share/... -> usr/share/...
            if path == "." or path.split(os.sep)[0] == "..":
                continue
            dest = root / path
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
            elif member.isfile() or member.issym():
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.is_symlink() or dest.exists():
                    dest.unlink()
                if member.isfile():
                    source = tar.extractfile(member)
                    assert source is not None
                    dest.write_bytes(source.read())
                else:  # a link stays inside ROOT: absolute ones are made relative to it
                    target = member.linkname
                    if target.startswith("/"):
                        target = os.path.relpath(root / target.lstrip("/"), dest.parent)
                    inside = os.path.normpath(os.path.join(os.path.dirname(path), target))
                    if inside.split(os.sep)[0] != "..":
                        os.symlink(target, dest)


def unpacked_packages(packages: List[str]) -> str:
    """A directory holding PACKAGES unpacked from Debian (downloaded once, cached); its path."""
    cache = Path(os.environ.get("SKYFAST_CACHE", "~/.cache/skyfast-build")).expanduser().resolve()
    cache = cache / "dashboard"
    root = cache / DEBIAN_SUITE
    index = debian_index(cache, refresh=False)

    def stamp(name: str) -> Path:  # left by an unpacked package, named by its version
        return root / ".skyfast-debs" / f"{name}_{index[name]['Version']}".replace(":", "%3a")

    for name in with_dependencies(index, packages):
        if stamp(name).exists():
            continue
        try:
            deb = download(index[name])
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            # The .deb left the pool since the cached index was taken: the new one names its
            # successor.
            index = debian_index(cache, refresh=True)
            deb = download(index[name])
        unpack(deb, root)
        stamp(name).parent.mkdir(parents=True, exist_ok=True)
        stamp(name).touch()
    return str(root)


def download(fields: Dict[str, str]) -> bytes:
    """The .deb an index stanza describes, checked against its SHA256."""
    print(f"publish_offline: {fields['Filename']} from {DEBIAN_MIRROR}", file=sys.stderr)
    deb = fetch(f"{DEBIAN_MIRROR}/{fields['Filename']}")
    if hashlib.sha256(deb).hexdigest() != fields["SHA256"]:
        raise SystemExit(f"{fields['Filename']}: SHA256 does not match the index")
    return deb


def install_assets(html_dir: str) -> List[str]:
    """Copy every asset into <html_dir>/vendor; returns what is missing (with its package)."""
    wanted = [(a.target, a.source, a.package) for a in ASSETS] + EXTRAS
    absent = sorted(
        {package for _, source, package in wanted if package and not os.path.exists(source)}
    )
    root = unpacked_packages(absent) if absent else None

    def where(source: str, package: Optional[str]) -> str:
        if root and package in absent:
            return os.path.join(root, source.lstrip("/"))
        return source

    sources = [(target, where(source, package), package) for target, source, package in wanted]
    missing = [
        f"{source} (Debian package {package or 'none: vendored in benchmarks/dashboard'})"
        for _, source, package in sources
        if not os.path.exists(source)
    ]
    if missing:
        return missing
    vendor = os.path.join(html_dir, "vendor")
    for target, source, _ in sources:
        destination = os.path.join(vendor, target)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, destination)
    return []


def rewrite(html: str) -> str:
    """index.html with every CDN script and stylesheet replaced by its copy under vendor/."""

    def local(match: re.Match[str]) -> str:
        kind, url = match.group(1), match.group(2)
        for asset in ASSETS:
            if re.search(asset.url, url):
                path = f"vendor/{asset.target}"
                if kind == "script":
                    return f'<script src="{path}" onerror="js_load_failure()"></script>'
                return f'<link rel="stylesheet" href="{path}">'
        raise SystemExit(
            f"asv's page loads {url}, which {os.path.relpath(__file__, REPO)} does not know: "
            "add it to ASSETS (a newer asv than 0.6.6?)"
        )

    return TAG.sub(local, html)


def external_loads(html_dir: str) -> Dict[str, List[str]]:
    """Per page of the dashboard, the tags that would load something from another host."""
    found: Dict[str, List[str]] = {}
    for folder, _, files in os.walk(html_dir):
        for name in files:
            if name.endswith((".html", ".htm", ".css", ".js")) and "vendor" not in folder:
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                hits = [m.group(0) for m in EXTERNAL_LOAD.finditer(text)]
                hits += re.findall(r"@import\s+url\([\"']?https?://[^)]*\)", text)
                if hits:
                    found[os.path.relpath(path, html_dir)] = hits
    return found


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--html-dir",
        default=os.path.join(REPO, ".asv", "html"),
        help="asv's html_dir (default: .asv/html, as in asv.conf.json)",
    )
    parser.add_argument(
        "--no-publish",
        action="store_true",
        help="rewrite an existing dashboard; do not run asv publish",
    )
    args = parser.parse_args(argv)

    if not args.no_publish:
        subprocess.run([sys.executable, "-m", "asv", "publish"], cwd=REPO, check=True)
    index = os.path.join(args.html_dir, "index.html")
    if not os.path.exists(index):
        print(f"no {index}: run asv publish first", file=sys.stderr)
        return 1
    missing = install_assets(args.html_dir)
    if missing:
        print("missing:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    with open(index, encoding="utf-8") as f:
        html = f.read()
    with open(index, "w", encoding="utf-8") as f:
        f.write(rewrite(html))
    remaining = external_loads(args.html_dir)
    if remaining:
        for page, tags in remaining.items():
            print(f"{page}: still loads from another host: {tags}", file=sys.stderr)
        return 1
    print(f"{args.html_dir}: offline (assets in vendor/, no external load in any page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
