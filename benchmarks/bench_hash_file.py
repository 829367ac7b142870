"""hash_file over seeded random files: per-call overhead (4 KiB) and throughput (1/64 MiB)."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List

from ._util import IMPLEMENTATIONS, KIB, MIB, load, write_random_file

SIZES = {"4KiB": 4 * KIB, "1MiB": MIB, "64MiB": 64 * MIB}


class HashFile:
    """hash_file(path, alg) for sha256 and md5 on 4 KiB, 1 MiB and 64 MiB files."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, ["sha256", "md5"], list(SIZES)]
    param_names: ClassVar[List[str]] = ["impl", "alg", "size"]
    timeout = 300

    def setup_cache(self) -> Dict[str, str]:
        # Runs once, in a temporary working directory asv removes afterwards.
        return {name: write_random_file(f"hash-{name}.bin", size) for name, size in SIZES.items()}

    def setup(self, paths: Dict[str, str], impl: str, alg: str, size: str) -> None:
        self.mod = load(impl)
        self.path = paths[size]
        self.mod.hash_file(self.path, alg)  # page cache warm

    def time_hash_file(self, paths: Dict[str, str], impl: str, alg: str, size: str) -> None:
        """Hash one file and take its digest."""
        self.mod.hash_file(self.path, alg).digest()

    def peakmem_hash_file(self, paths: Dict[str, str], impl: str, alg: str, size: str) -> None:
        """Peak RSS of hashing one file (should not depend on the file size)."""
        self.mod.hash_file(self.path, alg)
