"""Check compiled wheels: tags as named, right architecture, old enough glibc.

    python check_wheels.py --arch x86_64 --max-glibc 2.17 WHEEL...

The Tag lines of each wheel's WHEEL file are exactly the tags its file name
expands to (installers read one, indexes the other), and it is not purelib.

For every .so in each wheel: the ELF machine matches --arch, it needs no
GLIBC_x.y symbol version newer than --max-glibc (the manylinux2014 promise:
glibc 2.17, CentOS 7), and it links only against the glibc libraries that
manylinux2014 allows (no libpython: the interpreter provides its symbols).
This repeats, arch-independently and with its own eyes, what `auditwheel show`
concludes (pyelftools reads aarch64 objects on any host; so does readelf).
Prints one line per module; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import email.parser
import io
import sys
import zipfile
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64"}
ALLOWED_NEEDED = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1"}


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def check(name: str, data: bytes, arch: str, max_glibc: str) -> list[str]:
    elf = ELFFile(io.BytesIO(data))
    problems = []
    if elf["e_machine"] != MACHINES[arch] or elf.elfclass != 64:
        problems.append(f"machine {elf['e_machine']}/{elf.elfclass}-bit, want {MACHINES[arch]}")
    needed, glibc = [], []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed += [t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
        if isinstance(section, GNUVerNeedSection):
            for _verneed, auxes in section.iter_versions():
                glibc += [a.name[len("GLIBC_"):] for a in auxes if a.name.startswith("GLIBC_2")]
    bad_libs = sorted(set(needed) - ALLOWED_NEEDED)
    if bad_libs:
        problems.append(f"links against {', '.join(bad_libs)}")
    newest = max(glibc, key=version_key) if glibc else "none"
    too_new = sorted({v for v in glibc if version_key(v) > version_key(max_glibc)}, key=version_key)
    if too_new:
        problems.append(f"needs GLIBC_{', GLIBC_'.join(too_new)} (> {max_glibc})")
    print(f"  {name}: {elf['e_machine']}, NEEDED {' '.join(needed)}, newest GLIBC_{newest}"
          + (f"  <-- {'; '.join(problems)}" if problems else ""))
    return problems


def check_tags(filename: str, zf: zipfile.ZipFile) -> list[str]:
    dist, version, pys, abis, plats = filename[:-len(".whl")].split("-")
    named = {f"{p}-{a}-{pl}" for p in pys.split(".") for a in abis.split(".")
             for pl in plats.split(".")}
    meta = email.parser.Parser().parsestr(zf.read(f"{dist}-{version}.dist-info/WHEEL").decode())
    problems = []
    tags = set(meta.get_all("Tag") or [])
    if tags != named:
        problems.append(f"WHEEL Tag lines {sorted(tags)} != file name {sorted(named)}")
    if meta.get("Root-Is-Purelib", "").lower() != "false":
        problems.append("WHEEL says Root-Is-Purelib is not false")
    note = f"  <-- {'; '.join(problems)}" if problems else ""
    print(f"  WHEEL: {', '.join(sorted(named))}{note}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", required=True, choices=sorted(MACHINES))
    ap.add_argument("--max-glibc", default="2.17")
    ap.add_argument("wheels", nargs="+")
    args = ap.parse_args()
    failed = False
    for wheel in args.wheels:
        print(wheel.rsplit("/", 1)[-1])
        with zipfile.ZipFile(wheel) as zf:
            failed |= bool(check_tags(Path(wheel).name, zf))
            sos = [n for n in zf.namelist() if n.endswith(".so")]
            if not sos:
                print("  no compiled module in this wheel")
                failed = True
            for name in sos:
                failed |= bool(check(name, zf.read(name), args.arch, args.max_glibc))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
