"""Container limits: what this process may really use (docs/contract.md §6; docs/limits.md).

The public face of the limits code, following the choice ``_dispatch`` made
for the core when ``skyfast`` was imported: with the compiled core, the
Cython-compiled build ``_limits_c`` of ``_limits_py.py`` (when it imports),
else ``_limits_py`` itself.  Every name is documented in ``_limits_py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import load_implementation
from ._dispatch import IMPLEMENTATION as _CORE_IMPLEMENTATION

if TYPE_CHECKING:
    from ._limits_py import *  # noqa: F403  (type checkers see the typed source)
    from ._limits_py import __all__ as _names

    IMPLEMENTATION = "python"
else:
    # Only the chosen build is imported: the compiled one carries the same __all__.
    # SKYFAST_NO_EXTENSIONS is not read again: a change since `import skyfast` would
    # give the core and the limits code different builds.
    _impl, IMPLEMENTATION = load_implementation(
        "skyfast._limits_c", "skyfast._limits_py", want_compiled=_CORE_IMPLEMENTATION == "cython"
    )
    _names = _impl.__all__
    globals().update({name: getattr(_impl, name) for name in _names})

__all__ = ["IMPLEMENTATION", *_names]
