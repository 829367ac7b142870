"""benchmarks/e2e_skypilot.py: it runs on tiny inputs, both arms agree, SkyPilot is left as found.

Behaviour only, never speed: the figures themselves are not checked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings
from types import ModuleType
from typing import Any, Dict

import pytest
from _guards import HANG_GUARD

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "benchmarks", "e2e_skypilot.py")  # fmt: skip
if not os.path.exists(SCRIPT):  # e.g. the wheel check runs a copy of tests/ alone
    pytest.skip("benchmarks/ is not next to tests/: a repository-only test",
                allow_module_level=True)  # fmt: skip


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_skyfast_e2e_skypilot", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_inert_for_asv(child_env):
    """asv imports every module of benchmarks/: no benchmark names, no SkyPilot import."""
    module = load_script()
    prefixes = ("time_", "track_", "mem_", "peakmem_", "timeraw_")
    assert not [name for name in vars(module) if name.lower().startswith(prefixes)]
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('e2e', {SCRIPT!r})\n"
        "sys.modules['e2e'] = module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted(m for m in sys.modules if m == 'sky' or m.startswith('sky.')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.reference
def test_quick_run_agrees_and_restores(sky, tmp_path, capsys):
    from skyfast.integrations import skypilot

    module = load_script()
    with warnings.catch_warnings():  # SkyPilot's import-time deprecation warnings
        warnings.simplefilter("ignore")
        serve_utils = importlib.import_module("sky.serve.serve_utils")
        catalog_common = importlib.import_module("sky.catalog.common")
    before: Dict[str, Any] = {
        f"{m.__name__}.{n}": getattr(m, n)
        for m in (sky.common, sky.subprocess)
        for n in dir(m)
        if callable(getattr(m, n))
    }
    watched = [
        (serve_utils, "_check_service_status_healthy"),
        (serve_utils, "generate_remote_controller_log_file_name"),
        (catalog_common, "_ABSOLUTE_VERSIONED_CATALOG_DIR"),
    ]
    watched_before = [getattr(obj, name) for obj, name in watched]
    user_id = os.environ.get("SKYPILOT_USER_ID")

    out = tmp_path / "e2e.json"
    status = module.main(["--quick", "--rounds", "2", "--target-ms", "0", "--json", str(out)])
    assert status == 0
    figures = json.loads(out.read_text(encoding="utf-8"))
    table = capsys.readouterr().out

    ops = figures["operations"]
    assert list(ops) == list(module.OPERATIONS)
    for key, entry in ops.items():
        assert entry["same_result"] is True, key
        assert entry["label"] in table
        for arm in ("skypilot", "skyfast"):
            assert len(entry["samples_s"][arm]["cpu"]) == 2, key
            assert len(entry["samples_s"][arm]["wall"]) == 2, key
        if entry["control"]:
            assert entry["calls_of_the_ten"] == 0 and entry["replay"] is None, key
        else:
            assert entry["calls_of_the_ten"] > 0, key
            assert entry["replay"] is not None, key
    assert figures["config"]["rounds"] == 2

    # SkyPilot is as it was: drop-in out, every patch undone, the environment unchanged.
    assert not skypilot.is_installed()
    after = {key: getattr(sys.modules[key.rsplit(".", 1)[0]], key.rsplit(".", 1)[1])
             for key in before}
    assert all(after[key] is before[key] for key in before)
    assert [getattr(obj, name) for obj, name in watched] == watched_before
    assert os.environ.get("SKYPILOT_USER_ID") == user_id


@pytest.mark.reference
def test_only_and_unknown_operation(sky):
    module = load_script()
    figures = module.run(rounds=1, target_s=0.0, quick=True, only=["k8s_types"], share=False)
    assert list(figures["operations"]) == ["k8s_types"]
    assert "calls_of_the_ten" not in figures["operations"]["k8s_types"]
    assert "Kubernetes instance-type names" in module.format_table(figures)
    with pytest.raises(ValueError, match="nope"):
        module.run(rounds=1, target_s=0.0, quick=True, only=["nope"], share=False)
