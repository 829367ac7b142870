"""skyfast listed in SkyPilot's plugins.yaml: loaded by SkyPilot's own plugin loader.

Each test runs SkyPilot's ``load_plugins`` in a fresh interpreter whose HOME
holds the plugins file, as the API server and its workers do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from _guards import HANG_GUARD

pytestmark = pytest.mark.reference

_LOAD = r"""
import json, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
from sky.server import plugins
from sky.utils import common_utils, subprocess_utils
import skyfast
from skyfast.integrations import skypilot
if sys.argv[1] == "broken":
    def boom(*args, **kwargs):
        raise RuntimeError("activation failed")
    skypilot.activate_module = boom
plugins.load_plugins(plugins.ExtensionContext())
print(json.dumps({
    "replaced": list(skypilot.replaced()),
    "cpu_count_is_skyfast": common_utils.get_cpu_count is skyfast.get_cpu_count,
    "plugins": [p.name for p in plugins.get_plugins()],
}))
"""

CLASS = "skyfast.integrations.skypilot_plugin.SkyfastPlugin"


def load(child_env: Dict[str, str], home: Path, config: str, mode: str = "ok") -> Any:
    (home / ".sky").mkdir(parents=True, exist_ok=True)
    (home / ".sky" / "plugins.yaml").write_text(config)
    env = dict(child_env, HOME=str(home))
    proc = subprocess.run([sys.executable, "-c", _LOAD, mode], env=env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), proc.stderr


def test_listed_plugin_replaces_the_verified_functions(sky, child_env, tmp_path):
    state, stderr = load(child_env, tmp_path, f"plugins:\n  - class: {CLASS}\n")
    assert len(state["replaced"]) == 10
    assert state["cpu_count_is_skyfast"] is True
    assert state["plugins"] == ["skyfast"]
    assert "skyfast plugin" not in stderr


def test_not_listed_changes_nothing(sky, child_env, tmp_path):
    state, _ = load(child_env, tmp_path, "plugins: []\n")
    assert state["replaced"] == [] and state["cpu_count_is_skyfast"] is False


def test_a_failure_warns_and_never_stops_the_server(sky, child_env, tmp_path):
    state, stderr = load(child_env, tmp_path, f"plugins:\n  - class: {CLASS}\n", "broken")
    assert state["replaced"] == [] and state["cpu_count_is_skyfast"] is False
    assert state["plugins"] == ["skyfast"]  # loaded, so SkyPilot went on
    message = "SkyPilot was not switched to skyfast (RuntimeError: activation failed)"
    assert stderr.count(message) == 1


def test_unknown_parameters_warn_but_do_not_raise(sky, child_env, tmp_path):
    config = f"plugins:\n  - class: {CLASS}\n    parameters:\n      speed: 11\n"
    state, stderr = load(child_env, tmp_path, config)
    assert len(state["replaced"]) == 10
    assert "parameters ['speed'] are not used" in stderr
