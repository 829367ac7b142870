"""The container-limits code compiled with Cython vs as plain Python, on the calls users make.

    python benchmarks/limits_builds.py [--seconds 20] [--compiled MODULE]

Times ``read_limits()`` and ``effective_cpu_count()`` -- what
``skyfast.limits`` exports -- from the Cython-compiled build of
``skyfast/_limits_py.py`` and from ``skyfast._limits_py`` itself, side by side
in this one process with ``skyfast bench``'s sampler (interleaved rounds in a
rotated order, medians, the ratio as the median of per-round ratios with its
quartiles), with the cache off (``set_cache_ttl(0)``: every call reads the
kernel files) and on (the default window: at this call rate nearly every
``effective_cpu_count()`` is a hit; ``read_limits()`` is never cached).

The compiled build is ``--compiled`` (default ``skyfast._limits_c``).  The
package ships no such module (docs/limits.md, "One build", has the figures
and the decision), so unless one is installed this script compiles
``skyfast/_limits_py.py`` under that name into a temporary directory, which
needs Cython and a C compiler.

A developer script; asv imports every module here, this one defines no
benchmark and does nothing on import.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
from dataclasses import asdict
from types import ModuleType
from typing import List, Optional, Tuple


def _compile(name: str, source: str, work: str) -> ModuleType:
    """``source`` compiled by Cython as the extension module ``name`` and imported."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    ext = Extension(name, [source], extra_compile_args=["-O2"])
    # Type hints stay hints, so both builds take the same values.
    directives = {"language_level": 3, "annotation_typing": False, "autotestdict": False}
    built = cythonize([ext], build_dir=work, quiet=True, compiler_directives=directives)
    dist = Distribution({"ext_modules": built})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib, cmd.build_temp = work, os.path.join(work, "tmp")
    cmd.ensure_finalized()
    cmd.run()
    path = cmd.get_ext_fullpath(name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compiled_build(name: str, work: str) -> Tuple[ModuleType, str]:
    """The compiled build and where it came from."""
    try:
        return importlib.import_module(name), "installed"
    except ImportError:
        pass
    import skyfast._limits_py as pure

    return _compile(name, pure.__file__, work), "compiled here from " + pure.__file__


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time budget per row")
    parser.add_argument("--compiled", default="skyfast._limits_c")
    args = parser.parse_args(argv)

    import skyfast
    import skyfast._limits_py as pure
    from skyfast._bench import (
        DEFAULT_TTL,
        Contender,
        load_average,
        machine_info,
        measure,
        paired_ratio,
        quartiles,
    )

    with tempfile.TemporaryDirectory(prefix="skyfast-limits-") as work:
        compiled, origin = compiled_build(args.compiled, work)
        if not compiled.__file__ or not compiled.__file__.endswith(
            tuple(importlib.machinery.EXTENSION_SUFFIXES)
        ):
            parser.error(f"{args.compiled} is not an extension module: {compiled.__file__}")
        builds = {"compiled": compiled, "pure": pure}
        for b in builds.values():  # the same answers, so the same work
            assert asdict(b.read_limits()) == asdict(pure.read_limits()), b
            assert b.effective_cpu_count() == pure.effective_cpu_count(), b
        info = machine_info()
        print(f"{info['cpu_model'] or 'unknown CPU'}, {info['affinity']} CPUs usable, Python "
              f"{info['python']}; {args.compiled} {origin}")  # fmt: skip
        print(f"load average {info['load_average_1min']:.1f} at the start; "
              "ratio = pure / compiled, median of per-round ratios (quartiles)\n")
        print(f"{'call':<24}{'cache':<6}{'compiled':>11}{'pure':>11}  ratio")
        for cache, ttl in (("off", 0.0), ("on", DEFAULT_TTL)):
            skyfast.set_cache_ttl(ttl)
            for call in ("read_limits", "effective_cpu_count"):
                contenders = [Contender(k, k, getattr(b, call), ()) for k, b in builds.items()]
                n = measure(contenders, args.seconds, (21, 100_000))
                times = {c.name: quartiles(c.samples) for c in contenders}
                ratio = paired_ratio(contenders[1], contenders[0])
                assert ratio is not None and all(times.values())
                med = {k: v["median"] / 1e3 for k, v in times.items() if v}
                print(f"{call + '()':<24}{cache:<6}{med['compiled']:>9.1f}µs{med['pure']:>9.1f}µs"
                      f"  {ratio['median']:.3f}x ({ratio['q1']:.3f}-{ratio['q3']:.3f}), "
                      f"{n} rounds")  # fmt: skip
        skyfast.set_cache_ttl(DEFAULT_TTL)
        print(f"\nload average {load_average():.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
