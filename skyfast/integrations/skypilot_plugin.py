"""skyfast as a SkyPilot API-server plugin (SkyPilot 0.12 and later).

List it in ``~/.sky/plugins.yaml`` (or the file ``SKYPILOT_SERVER_PLUGINS_CONFIG``
names) on the API server::

    plugins:
      - class: skyfast.integrations.skypilot_plugin.SkyfastPlugin

SkyPilot loads plugins in the API server's main process, its uvicorn workers,
its request executors and the jobs controllers; in each, ``install`` replaces
the verified functions by the same rule as ``skypilot.install()``.  It does not
reach the ``sky`` CLI, skylet, or values SkyPilot computed before plugins load
(``_NUM_THREADS`` of ``sky.provision.kubernetes.instance``): the start-up
activation (``SKYFAST_SKYPILOT=1``) does.

A plugin that raises stops the API server, so this one never does: anything
unexpected is a warning, and SkyPilot stays as it was.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Optional

from sky.server import plugins as _plugins

__all__ = ["SkyfastPlugin"]


class SkyfastPlugin(_plugins.BasePlugin):
    """Replaces SkyPilot's verified utility functions with skyfast's in each process it loads in."""

    def __init__(self, **parameters: Any) -> None:
        super().__init__()
        if parameters:
            _warn(f"parameters {sorted(parameters)} are not used; there are none to set")

    @property
    def name(self) -> Optional[str]:
        return "skyfast"

    @property
    def version(self) -> Optional[str]:
        try:
            import skyfast

            return skyfast.__version__
        except Exception:
            return None

    def install(self, extension_context: Any) -> None:
        try:
            from . import skypilot

            for module_name in skypilot.UPSTREAM_NAMES:
                module = sys.modules.get(module_name)
                if module is None:  # SkyPilot imports both before plugins; if not, import them
                    import importlib

                    module = importlib.import_module(module_name)
                skypilot.activate_module(module, via="plugin")
        except Exception as error:
            _warn(f"SkyPilot was not switched to skyfast ({type(error).__name__}: {error})")


def _warn(message: str) -> None:
    try:
        warnings.warn(f"skyfast plugin: {message}", RuntimeWarning, stacklevel=3)
    except Exception:  # warnings turned into errors: never raise into SkyPilot
        try:
            sys.stderr.write(f"skyfast plugin: {message}\n")
        except Exception:
            pass
