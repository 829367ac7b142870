"""Build the Cython core; everything else lives in pyproject.toml.

SKYFAST_NO_EXTENSIONS=1 builds a pure-Python package, SKYFAST_REQUIRE_EXTENSIONS=1
turns a failed compile into a failed build (so CI can never ship the slow path
by accident).  Values '0', '', 'false', 'no' mean false.
"""

import os
import runpy
import sys

from setuptools import Extension, setup

# skyfast._common.env_flag, read from its file: setup.py cannot import the package.
_flag = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "skyfast",
                                    "_common.py"))["env_flag"]


def _extensions():
    if _flag("SKYFAST_NO_EXTENSIONS"):
        return []
    if not sys.platform.startswith("linux"):
        # The core calls Linux system calls (pidfd_open, getdents64, sched_getaffinity).
        if _flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise RuntimeError(f"skyfast: the compiled core is Linux-only (this is {sys.platform})")
        print(f"skyfast: the compiled core is Linux-only; building the pure-Python "
              f"package for {sys.platform}", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if _flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise
        print("skyfast: Cython not available, building pure Python", file=sys.stderr)
        return []
    # Compiler directives live in each source's header (`# cython: ...`), and
    # only there.  SKYFAST_CYTHON_TRACE=1 adds line tracing (coverage, profilers).
    trace = _flag("SKYFAST_CYTHON_TRACE")
    macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if trace else []
    directives = {"linetrace": True} if trace else {}
    ext = Extension(
        "skyfast._core",
        ["skyfast/_core.pyx"],
        # The C next to the .pyx (header-only, included by it).
        depends=["skyfast/_sf_sys.h", "skyfast/_sf_cache.h", "skyfast/_sf_mem.h"],
        extra_compile_args=["-O2"],
        define_macros=macros,
    )
    return cythonize([ext], compiler_directives=directives)


# The start-up activation (docs/skypilot.md): installed at the top of
# site-packages, where site.py reads .pth and .start files.
STARTUP_FILES = ["_skyfast_startup.py", "skyfast_skypilot.pth", "skyfast_skypilot.start"]


def main() -> None:
    from setuptools.command.build_ext import build_ext
    from setuptools.command.build_py import build_py

    class build_py_with_startup(build_py):
        """Also puts the start-up files at the root of the wheel."""

        def run(self):
            super().run()
            for name in STARTUP_FILES:
                self.copy_file(os.path.join("startup", name), os.path.join(self.build_lib, name))

    class build_ext_optional(build_ext):
        """A compiler failure falls back to pure Python, unless the extension is required."""

        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception:
                if _flag("SKYFAST_REQUIRE_EXTENSIONS"):
                    raise
                print(f"skyfast: building {ext.name} failed, using pure Python", file=sys.stderr)

    setup(ext_modules=_extensions(),
          cmdclass={"build_ext": build_ext_optional, "build_py": build_py_with_startup})


main()
