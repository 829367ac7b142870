"""Make a platform wheel from the pure-Python wheel plus compiled modules.

    python assemble.py --pure skyfast-X-py3-none-any.whl --tag cp311-cp311-linux_x86_64 \\
        --outdir DIR skyfast/_core.cpython-311-x86_64-linux-gnu.so=/path/to/built.so ...

Every file of the pure wheel is kept as it is (sources, stubs, py.typed,
metadata, licence), the ARCNAME=PATH pairs are added, WHEEL says
``Root-Is-Purelib: false`` with the one given tag, and RECORD is written anew.
This is what ``setup.py bdist_wheel`` would produce for that interpreter, but
without needing the interpreter: the .so files come from the zig cross build.
Prints the path of the new wheel.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
import time
import zipfile
from pathlib import Path


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pure", required=True, type=Path)
    ap.add_argument("--tag", required=True,
                    help="python-abi-platform, e.g. cp311-cp311-linux_x86_64")
    ap.add_argument("--outdir", required=True, type=Path)
    ap.add_argument("files", nargs="+", metavar="ARCNAME=PATH")
    args = ap.parse_args()

    m = re.fullmatch(r"([^-]+)-([^-]+)-py3-none-any\.whl", args.pure.name)
    if not m:
        print(f"assemble.py: {args.pure.name} is not a py3-none-any wheel", file=sys.stderr)
        return 1
    dist, version = m.groups()
    if not re.fullmatch(r"cp3\d+-cp3\d+t?-linux_(x86_64|aarch64)", args.tag):
        print(f"assemble.py: unexpected tag {args.tag}", file=sys.stderr)
        return 1
    dist_info = f"{dist}-{version}.dist-info"
    added = {}
    for spec in args.files:
        arcname, _, path = spec.partition("=")
        if not path or arcname.startswith(("/", dist_info)):
            print(f"assemble.py: bad ARCNAME=PATH {spec!r}", file=sys.stderr)
            return 1
        added[arcname] = Path(path).read_bytes()

    out = args.outdir / f"{dist}-{version}-{args.tag}.whl"
    args.outdir.mkdir(parents=True, exist_ok=True)
    records = []
    with zipfile.ZipFile(args.pure) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        def put(name: str, data: bytes, mode: int) -> None:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.external_attr = (mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
            records.append(f"{name},{record_hash(data)},{len(data)}")

        # One timestamp for the added files: the pure wheel's own (reproducible
        # when SOURCE_DATE_EPOCH drove that build), else now.
        stamps = [i.date_time for i in src.infolist()]
        date_time = max(stamps) if stamps else time.localtime()[:6]
        for info in src.infolist():
            name = info.filename
            if name == f"{dist_info}/RECORD":
                continue
            if name in added:
                print(f"assemble.py: {name} is already in the pure wheel", file=sys.stderr)
                return 1
            data = src.read(info)
            if name == f"{dist_info}/WHEEL":
                # An RFC 822 header block: a blank line would end it early (and
                # hide the lines after it from installers and auditwheel).
                lines = [ln for ln in data.decode().splitlines()
                         if ln.strip() and not ln.startswith(("Root-Is-Purelib:", "Tag:"))]
                lines += ["Root-Is-Purelib: false", f"Tag: {args.tag}"]
                data = ("\n".join(lines) + "\n").encode()
            put(name, data, info.external_attr >> 16 or 0o100644)
        # Compiled modules go next to the package's sources (before dist-info
        # would be nicer for readers, but order does not matter to installers).
        for arcname, data in sorted(added.items()):
            put(arcname, data, 0o100755)
        records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=date_time)
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        dst.writestr(info, "\n".join(records) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
