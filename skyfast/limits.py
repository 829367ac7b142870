"""Container limits: what this process may really use (SPEC section 6).

The public face of the limits code, chosen as ``_dispatch`` chooses the core:
the Cython-compiled build ``_limits_c`` of ``_limits_py.py`` when it imports
(unless ``SKYFAST_NO_EXTENSIONS`` is set), else ``_limits_py`` itself.  Every
name is documented in ``_limits_py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _limits_py
from ._common import load_implementation

if TYPE_CHECKING:
    from ._limits_py import *  # noqa: F403  (type checkers see the typed source)

    IMPLEMENTATION = "python"
else:
    _impl, IMPLEMENTATION = load_implementation("skyfast._limits_c", "skyfast._limits_py")
    globals().update({name: getattr(_impl, name) for name in _limits_py.__all__})

__all__ = ["IMPLEMENTATION", *_limits_py.__all__]
