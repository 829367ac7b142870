"""Container limits: what this process may really use (docs/contract.md §6; docs/limits.md).

The public face of the limits code, ``_limits_py``, where every name is
documented.  It is plain Python in every install: nearly all of its time goes
to reading kernel files (docs/limits.md, "One build").
"""

from __future__ import annotations

from . import _limits_py
from ._limits_py import *  # noqa: F403

__all__ = list(_limits_py.__all__)
