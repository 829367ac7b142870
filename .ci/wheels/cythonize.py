"""Cythonize the compiled modules exactly as setup.py declares them, compile nothing.

    cd SRC && python cythonize.py > extensions.txt

Runs SRC/setup.py with ``setuptools.setup`` replaced by a recorder, so the
module names, C sources, include dirs and macros come from setup.py itself (a
module added there is built by .ci/build-wheels.sh without touching it), and
Cython -- the pinned one in the tools venv -- writes the C next to each source.
The C that Cython generates does not depend on the Python running it, so one
run serves every (Python, architecture) target.

Prints one line per extension, tab-separated:
    module name, C source (relative to SRC), then compiler arguments
    (-I/-D from include_dirs/define_macros, then extra_compile_args).
Fails when setup.py yields no extension (e.g. SKYFAST_NO_EXTENSIONS is set, or
Cython is missing), since the caller is about to build compiled wheels.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys

import setuptools

recorded: dict[str, object] = {}


def fake_setup(**kwargs: object) -> None:
    recorded.update(kwargs)


def main() -> int:
    # A compile failure must never fall back to pure Python here.
    os.environ["SKYFAST_REQUIRE_EXTENSIONS"] = "1"
    os.environ.pop("SKYFAST_NO_EXTENSIONS", None)
    setuptools.setup = fake_setup  # type: ignore[assignment]
    sys.argv = ["setup.py", "--name"]
    with contextlib.redirect_stdout(sys.stderr):  # Cython's progress lines are not our output
        runpy.run_path("setup.py", run_name="__main__")
    exts = recorded.get("ext_modules") or []
    if not exts:
        print("cythonize.py: setup.py declared no extension module", file=sys.stderr)
        return 1
    for ext in exts:  # type: ignore[attr-defined]
        c_sources = [s for s in ext.sources if s.endswith((".c", ".cpp"))]
        if len(c_sources) != 1 or c_sources != list(ext.sources):
            print(f"cythonize.py: {ext.name}: expected one generated C source, got {ext.sources}",
                  file=sys.stderr)
            return 1
        args = [f"-I{d}" for d in ext.include_dirs]
        for name, value in ext.define_macros:
            args.append(f"-D{name}" if value is None else f"-D{name}={value}")
        args += [f"-U{name}" for name in ext.undef_macros]
        args += list(ext.extra_compile_args)
        if ext.libraries or ext.library_dirs or ext.extra_link_args or ext.extra_objects:
            # Not supported by the zig link step in build-wheels.sh yet: say so, loudly.
            print(f"cythonize.py: {ext.name}: libraries/link arguments are not handled",
                  file=sys.stderr)
            return 1
        print("\t".join([ext.name, c_sources[0], *args]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
