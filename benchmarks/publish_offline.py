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
used where installed; otherwise their .debs are taken from Debian bookworm
and unpacked, not installed, under ${SKYFAST_CACHE:-~/.cache/skyfast-build}/
dashboard/ (as .ci/aarch64/sysroot.py does for the arm64 Pythons).
Exits non-zero when a file is missing even so, when asv's page asks for an
asset this script does not know (a newer asv), or when an external load
remains.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
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


def unpacked_packages(packages: List[str]) -> str:
    """A directory holding PACKAGES unpacked from Debian (downloaded once, cached); its path."""
    # The Debian index, download, checksum and unpack code of the aarch64 sysroots.
    sys.path.insert(0, os.path.join(REPO, ".ci", "aarch64"))
    import sysroot

    cache = Path(os.environ.get("SKYFAST_CACHE", "~/.cache/skyfast-build")).expanduser().resolve()
    root = cache / "dashboard" / DEBIAN_SUITE
    # arch: all packages; the amd64 index lists them like any other.  With their
    # dependencies: bootstrap's fonts/ are links into fonts-glyphicons-halflings.
    index = sysroot.Index(cache / "debian", DEBIAN_SUITE, "amd64")
    sysroot.install(index, sysroot.closure(index, packages), root)
    return str(root)


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
