"""Container limits: what this process may really use (SPEC section 6).

The public face of the limits code, chosen as ``_dispatch`` chooses the core:
the Cython-compiled build ``_limits_c`` of ``_limits_py.py`` when it imports
(unless ``SKYFAST_NO_EXTENSIONS`` is set), else ``_limits_py`` itself.  Every
name is documented in ``_limits_py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import load_implementation

if TYPE_CHECKING:
    from ._limits_py import *  # noqa: F403  (type checkers see the typed source)
    from ._limits_py import __all__ as _names

    IMPLEMENTATION = "python"
else:
    # Only the chosen build is imported: the compiled one carries the same __all__.
    _impl, IMPLEMENTATION = load_implementation("skyfast._limits_c", "skyfast._limits_py")
    _names = _impl.__all__
    globals().update({name: getattr(_impl, name) for name in _names})

__all__ = ["IMPLEMENTATION", *_names]
