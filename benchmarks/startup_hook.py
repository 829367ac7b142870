"""What the SKYFAST_SKYPILOT start-up files cost every Python process of a venv.

Three measurements, for docs/skypilot.md ("What it costs"):

1. In this process, with the variable unset: the .pth line itself, and
   ``site.addpackage`` on the .pth file (read, parse, run the line), which is
   what every interpreter start pays for it (timeit, best of 7 repeats).
2. Side by side: ``python -c pass`` in two fresh venvs of this interpreter
   (``--without-pip``), one with skyfast's three start-up files in its
   site-packages and one without, in interleaved rounds (alternating order),
   medians and quartiles of each arm; with the variable unset and on.
3. ``python -X importtime`` with the variable on: the import of the start-up
   module (skyfast itself is imported only by a process that imports SkyPilot).

    python benchmarks/startup_hook.py [--rounds N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Dict, List

from skyfast._bench import quartiles

REPO = Path(__file__).resolve().parent.parent
STARTUP = REPO / "startup"
FILES = ("_skyfast_startup.py", "skyfast_skypilot.pth", "skyfast_skypilot.start")


def pth_line() -> str:
    lines = (STARTUP / "skyfast_skypilot.pth").read_text().splitlines()
    return next(line for line in lines if line.startswith("import"))


def venv(root: Path, with_hook: bool) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()
    if with_hook:
        for name in FILES:
            shutil.copy(STARTUP / name, Path(site) / name)
        # As pip does when it installs the wheel (whatever PYTHONDONTWRITEBYTECODE says).
        subprocess.run([str(python), "-m", "compileall", "-q", str(Path(site) / FILES[0])],
                       check=True)
    return str(python)


def side_by_side(rounds: int, env: Dict[str, str], with_hook: str, without: str) -> Dict:
    arms: Dict[str, List[float]] = {"with": [], "without": []}
    order = [("with", with_hook), ("without", without)]
    for i in range(rounds):
        for arm, python in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            subprocess.run([python, "-c", "pass"], env=env, check=True)
            arms[arm].append(time.perf_counter() - start)
    diffs = [a - b for a, b in zip(arms["with"], arms["without"])]
    return {"with": quartiles(arms["with"]), "without": quartiles(arms["without"]),
            "added": quartiles(diffs)}


def importtime(python: str, env: Dict[str, str]) -> Dict[str, int]:
    """Microseconds (self, cumulative) of each start-up import of ours, from -X importtime."""
    proc = subprocess.run([python, "-X", "importtime", "-c", "pass"], env=env, check=True,
                          capture_output=True, text=True)
    found = {}
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] in ("_skyfast_startup", "skyfast"):
            found[parts[2]] = int(parts[1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items()
            if k not in ("SKYFAST_SKYPILOT", "PYTHONPATH", "PYTHONSTARTUP")}
    os.environ.pop("SKYFAST_SKYPILOT", None)
    number = 1_000_000
    line_ns = min(timeit.repeat(pth_line(), number=number, repeat=7)) / number * 1e9

    import site

    def addpackage() -> None:
        site.addpackage(str(STARTUP), "skyfast_skypilot.pth", set())

    number = 2_000
    file_us = min(timeit.repeat(addpackage, number=number, repeat=7)) / number * 1e6
    result: Dict = {"python": sys.version.split()[0], "pth_line_ns_unset": line_ns,
                    "pth_file_us_unset": file_us}
    with tempfile.TemporaryDirectory() as tmp:
        with_hook = venv(Path(tmp) / "with", True)
        without = venv(Path(tmp) / "without", False)
        result["unset"] = side_by_side(args.rounds, base, with_hook, without)
        on = dict(base, SKYFAST_SKYPILOT="1")
        result["on"] = side_by_side(args.rounds, on, with_hook, without)
        result["importtime_on_us"] = importtime(with_hook, on)
        result["importtime_unset_us"] = importtime(with_hook, base)

    print(f"Python {result['python']}; {args.rounds} interleaved rounds per setting")
    print(f"variable unset: the .pth line {line_ns:.0f} ns; site.addpackage on the file "
          f"{file_us:.1f} µs")
    for setting in ("unset", "on"):
        r = result[setting]
        print(f"SKYFAST_SKYPILOT {setting:5}: python -c pass {r['without']['median'] * 1e3:.2f} ms "
              f"without the files, {r['with']['median'] * 1e3:.2f} ms with; added per start "
              f"{r['added']['median'] * 1e6:+.0f} µs (IQR {r['added']['q1'] * 1e6:+.0f} to "
              f"{r['added']['q3'] * 1e6:+.0f})")
    print(f"-X importtime, on: {result['importtime_on_us']} µs cumulative; "
          f"unset: {result['importtime_unset_us'] or 'nothing of ours imported'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
