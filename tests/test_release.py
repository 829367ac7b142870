"""The two release paths build the same set.

pyproject.toml's ``[tool.cibuildwheel]`` (the release workflow) and
``.ci/build-wheels.sh`` (zig, for hosts without containers) must name the same
wheels: the same CPython versions on the same architectures, for the same
glibc.  docs/platforms.md, "Releasing".
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZIG_SCRIPT = ROOT / ".ci" / "build-wheels.sh"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"

pytestmark = pytest.mark.skipif(
    not ZIG_SCRIPT.is_file(), reason="the release scripts are in the source tree only"
)


def _lines(args: List[str]) -> List[str]:
    # Neither tool may see a narrowed selection from the caller's environment.
    env = {k: v for k, v in os.environ.items()
           if k != "SKYFAST_WHEELS_SKIP" and not k.startswith("CIBW_")}
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_cibuildwheel_builds_what_the_zig_script_builds() -> None:
    pytest.importorskip("cibuildwheel")
    zig = _lines(["bash", str(ZIG_SCRIPT), "--print-build-identifiers"])
    cibw = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers"]
    cibw += ["--platform", "linux"]
    assert sorted(_lines([*cibw, "--archs", "x86_64,aarch64"])) == sorted(zig)
    # pyproject.toml's own archs (the workflow gives each runner one of them) are the same two.
    assert sorted(_lines(cibw)) == sorted(zig)
    assert zig and len(zig) == len(set(zig)), zig


def test_same_glibc_and_cibuildwheel_version() -> None:
    tomllib = pytest.importorskip("tomllib")   # 3.11+, as cibuildwheel itself
    from importlib.metadata import version

    pytest.importorskip("cibuildwheel")
    linux = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]["linux"]
    assert linux["manylinux-x86_64-image"] == linux["manylinux-aarch64-image"] == "manylinux2014"
    assert re.search(r"^MAX_GLIBC=2\.17\b", ZIG_SCRIPT.read_text(), re.M)   # manylinux2014
    # The test runs the cibuildwheel the workflow runs (the `test` extra pins it).
    pinned = re.findall(r"uses: pypa/cibuildwheel@v(\S+)", WORKFLOW.read_text())
    assert pinned == [version("cibuildwheel")]
