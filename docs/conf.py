"""Sphinx configuration for skyfast's documentation (furo theme, MyST pages).

Build (warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Which skyfast the API pages are generated from: the **installed** package when
there is one (CI builds the docs after ``pip install .``), else the source tree
of this checkout.  ``python -m sphinx`` run from the repository root puts the
root first on ``sys.path``, where the uncompiled sources would shadow the
installed build, so the first import is tried with the root taken off the path;
only if that fails is the root put (back) in front and skyfast imported from
the tree -- a plain checkout builds too, with the pure-Python twin unless the
core was built with ``setup.py build_ext --inplace``.  The build log says which
one was used.

The signatures shown come from the typed pure-Python twin (``skyfast._core_py``),
which is what type checkers see (``skyfast._dispatch`` imports it under
``TYPE_CHECKING``).  The compiled functions carry the same parameters without
annotations; ``_use_typed_signature`` below checks that the two agree
(parameter names, kinds, defaults, and the docstring's summary paragraph)
and fails the build if they drift apart, so the page is right whichever
implementation is loaded.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any, Optional, Tuple

from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.inspect import signature as _sphinx_signature
from sphinx.util.inspect import stringify_signature
from sphinx.util.typing import stringify_annotation

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))


def _import_skyfast() -> Any:
    """The installed skyfast if there is one, else this checkout's (see above)."""

    def on_root(entry: str) -> bool:
        return os.path.abspath(entry or os.curdir) == _ROOT

    saved = list(sys.path)
    sys.path[:] = [p for p in saved if not on_root(p)]
    try:
        return importlib.import_module("skyfast")
    except ImportError:
        # Not installed (or its import failed): forget any half-imported
        # pieces so the tree's modules do not mix with the installed ones.
        for name in [m for m in sys.modules if m == "skyfast" or m.startswith("skyfast.")]:
            del sys.modules[name]
        sys.path[:] = [_ROOT, *(p for p in saved if not on_root(p))]
        return importlib.import_module("skyfast")
    finally:
        if _ROOT not in sys.path:
            sys.path[:] = saved


skyfast = _import_skyfast()
_twin = importlib.import_module("skyfast._core_py")  # the typed twin of the same skyfast

project = "skyfast"
author = "skyfast developers"
copyright = "skyfast developers"
release = skyfast.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "requirements.txt"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"skyfast {release}"
html_static_path = ["_static"]
html_css_files = ["skyfast.css"]  # wide tables: wrap cells, scroll with a visible edge

# The API is documented by hand-picked directives on api.md and limits.md,
# in the order a reader needs, not alphabetically.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True

_log = logging.getLogger(__name__)


def _twin_of(obj: Any, name: str) -> Optional[Any]:
    """The pure-Python function documented in place of a compiled ``skyfast.<name>``."""
    if not name.startswith("skyfast.") or name.count(".") != 1:
        return None
    short = name.rsplit(".", 1)[1]
    twin = getattr(_twin, short, None)
    if twin is None or not inspect.isfunction(twin):
        return None
    if obj is twin:
        return twin  # the pure-Python implementation is loaded: nothing to check
    _check_same_contract(name, obj, twin)
    return twin


def _check_same_contract(name: str, compiled: Any, twin: Any) -> None:
    try:
        got = inspect.signature(compiled)
    except (TypeError, ValueError):
        _log.warning("%s: the compiled function has no introspectable signature", name)
        return
    want = inspect.signature(twin)
    shape = [(p.name, p.kind, p.default) for p in got.parameters.values()]
    typed = [(p.name, p.kind, p.default) for p in want.parameters.values()]
    if shape != typed:
        _log.warning("%s: compiled signature %s differs from the twin's %s", name, got, want)
    got_doc, want_doc = _doc_body(compiled), _doc_body(twin)
    if got_doc.split("\n\n")[0] != want_doc.split("\n\n")[0]:
        _log.warning("%s: compiled and pure-Python docstrings say different things", name)
    elif got_doc != want_doc:
        # Same summary, different detail: worth fixing, not worth failing the docs.
        _log.info("note: %s: the compiled docstring's detail differs from the twin's", name)


def _doc_body(fn: Any) -> str:
    doc = inspect.getdoc(fn) or ""
    # Cython's embedsignature puts "name(args)" and a blank line first.
    head, _, rest = doc.partition("\n\n")
    if head.startswith(f"{fn.__name__}("):
        doc = rest
    return doc.strip()


def _use_typed_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: Optional[str],
    return_annotation: Optional[str],
) -> Optional[Tuple[str, str]]:
    if what != "function":
        return None
    twin = _twin_of(obj, name)
    if twin is None:
        return None
    sig = _sphinx_signature(twin, type_aliases=app.config.autodoc_type_aliases)
    args = stringify_signature(sig, show_return_annotation=False, unqualified_typehints=True)
    ret = ""
    if sig.return_annotation is not inspect.Parameter.empty:
        ret = stringify_annotation(sig.return_annotation, "smart")
    return args, ret


def setup(app: Sphinx) -> None:
    _log.info(
        "skyfast %s (%s implementation) from %s",
        release,
        skyfast.IMPLEMENTATION,
        os.path.dirname(skyfast.__file__),
    )
    app.connect("autodoc-process-signature", _use_typed_signature)
