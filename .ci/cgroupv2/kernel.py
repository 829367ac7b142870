"""Debian's amd64 kernel image (linux-image-amd64's vmlinuz), unpacked from its .deb (cached).

    python kernel.py --cache DIR SUITE
        print two lines: the path of the vmlinuz, and the kernel release
        (e.g. 6.12.117+deb13-amd64)

Used by .ci/cgroup-v2-vm.sh.  The metapackage linux-image-amd64 of SUITE names
the versioned image package (linux-image-6.12.117+deb13-amd64, for trixie);
that .deb is fetched and checked against the index's SHA256 by the arm64
sysroot builder's code (.ci/aarch64/sysroot.py: same mirror, retries and
cache layout, DIR/debian/{index,debs}), and only its ./boot/vmlinuz-* is
kept, under DIR/cgroupv2/kernel/PACKAGE_VERSION/.  No modules: everything the
VM needs (virtio-pci, virtiofs, fuse, the serial console, cgroup v2 with the
cpu, cpuset and memory controllers) is built into Debian's kernel -- checked
here against the package's config-* file, so a kernel that would not boot
this way fails with a reason instead of a hung VM.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "aarch64"))
from sysroot import Index, download, split_deps

# Must be =y (built in): the VM boots without an initramfs.
BUILTIN = [
    "CONFIG_VIRTIO_PCI",
    "CONFIG_VIRTIO_FS",
    "CONFIG_FUSE_FS",
    "CONFIG_SERIAL_8250_CONSOLE",
    "CONFIG_DEVTMPFS",
    "CONFIG_CGROUPS",
    "CONFIG_MEMCG",
    "CONFIG_CPUSETS",
    "CONFIG_CFS_BANDWIDTH",
    "CONFIG_FAIR_GROUP_SCHED",
    "CONFIG_MAGIC_SYSRQ",
]


def log(msg: str) -> None:
    print(f"cgroupv2-kernel: {msg}", file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("suite")
    args = ap.parse_args()
    cache = args.cache.resolve()

    index = Index(cache / "debian", args.suite, "amd64")
    meta = index.packages.get("linux-image-amd64")
    if meta is None:
        raise SystemExit(f"cgroupv2-kernel: no linux-image-amd64 in {args.suite}/amd64")
    # "linux-image-6.12.117+deb13-amd64 (= 6.12.117-1)": the first dependency.
    name = split_deps(meta["Depends"])[0][0]
    if name not in index.packages:
        raise SystemExit(f"cgroupv2-kernel: {name} (linux-image-amd64's) is not in the index")
    version = index.packages[name]["Version"].replace(":", "%3a")
    dest = cache / "cgroupv2" / "kernel" / f"{name}_{version}"
    vmlinuz = dest / "vmlinuz"
    release_file = dest / "release"
    if not vmlinuz.exists() or not release_file.exists():
        deb = download(index, name)
        log(f"unpack ./boot of {deb.name}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".unpack-") as tmp:
            tarball = subprocess.run(
                ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, stdout=subprocess.PIPE
            ).stdout
            out = Path(tmp) / "out"
            out.mkdir()
            found = {}
            with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
                for m in tar.getmembers():
                    base = Path(m.name).name
                    if (
                        m.isfile()
                        and Path(m.name).parent.name == "boot"
                        and re.match(r"(vmlinuz|config)-", base)
                    ):
                        fobj = tar.extractfile(m)
                        assert fobj is not None
                        (out / base.split("-", 1)[0]).write_bytes(fobj.read())
                        found[base.split("-", 1)[0]] = base.split("-", 1)[1]
            if "vmlinuz" not in found or "config" not in found:
                raise SystemExit(f"cgroupv2-kernel: {deb.name} has no boot/vmlinuz-* and config-*")
            (out / "release").write_text(found["vmlinuz"] + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            out.rename(dest)
    config = (dest / "config").read_text()
    missing = [opt for opt in BUILTIN if not re.search(rf"^{opt}=y$", config, re.M)]
    if missing:
        raise SystemExit(
            f"cgroupv2-kernel: {name} does not build in {', '.join(missing)}: "
            "it cannot boot from virtiofs without an initramfs"
        )
    print(vmlinuz)
    print(release_file.read_text().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
