"""Fingerprints of SkyPilot functions, from their source, for the "same code" rule.

A function's fingerprint covers its definition and, transitively, every
module-level binding of its own module that it reads: helper functions,
constants, and the imports that give names such as ``os`` or ``psutil``.  It is
a SHA-256 over a canonical text of the parsed AST, so comments, formatting and
docstrings do not change it, and the text is the same on every CPython 3.9+
(``ast.dump`` is not: 3.13 dropped empty fields from it, 3.12 added
``type_params``).

Nothing here imports SkyPilot: the source is read as text.  Run as a module it
prints the fingerprints of an installed SkyPilot (``python -m
skyfast.integrations._fingerprint [SKY_PACKAGE_DIR]``), which is how a release
is added to ``_verified.py``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

__all__ = ["module_fingerprints", "module_path", "sky_source_dir", "source_fingerprints"]

# Fields that carry no behaviour (comments for type checkers, the u'' prefix) or
# exist only on some versions and are empty in SkyPilot's code (PEP 695).
_IGNORED_FIELDS = frozenset(("type_comment", "kind", "type_params"))
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _canon(node: object) -> str:
    if isinstance(node, ast.AST):
        parts = [type(node).__name__]
        body: object
        for field in node._fields:
            if field in _IGNORED_FIELDS:
                continue
            body = getattr(node, field, None)
            if field == "body" and isinstance(node, _DEFS):
                body = _without_docstring(node.body)
            if body is None or body == []:
                continue
            parts.append(f"{field}={_canon(body)}")
        return "(" + " ".join(parts) + ")"
    if isinstance(node, list):
        return "[" + ",".join(_canon(item) for item in node) + "]"
    return repr(node)


def _without_docstring(body: List[ast.stmt]) -> List[ast.stmt]:
    first = body[0] if body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return body[1:]
    return body


def _import_binding(node: ast.stmt, alias: ast.alias) -> str:
    """One imported name as its own statement, so unrelated names in the same import don't count."""
    if isinstance(node, ast.ImportFrom):
        return f"from {'.' * node.level}{node.module or ''} import {alias.name} as {alias.asname}"
    return f"import {alias.name} as {alias.asname}"


def _bindings(statements: Iterable[ast.stmt]) -> Iterator[Tuple[str, str, ast.AST]]:
    """(name, canonical text, node) for each module-level binding, in source order.

    Looks inside module-level ``if``/``try``/``with`` blocks (``if TYPE_CHECKING:``
    imports, guarded fallbacks), never inside functions or classes.
    """
    for node in statements:
        if isinstance(node, _DEFS):
            yield node.name, _canon(node), node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                yield name, _import_binding(node, alias), node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        yield sub.id, _canon(node), node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            nested: List[ast.stmt] = list(node.body)
            nested += getattr(node, "orelse", [])
            nested += getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                nested += handler.body
            yield from _bindings(nested)


def source_fingerprints(source: str, names: Sequence[str]) -> Dict[str, Optional[str]]:
    """Fingerprint of each of ``names`` in a module's source; None where it is no function."""
    tree = ast.parse(source)
    bound: Dict[str, List[Tuple[str, ast.AST]]] = {}
    for name, text, node in _bindings(tree.body):
        bound.setdefault(name, []).append((text, node))
    result: Dict[str, Optional[str]] = {}
    for name in names:
        defs = bound.get(name, [])
        if not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for _, node in defs):
            result[name] = None
            continue
        reached = {name}
        todo = [name]
        while todo:
            for _, node in bound[todo.pop()]:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and sub.id in bound and sub.id not in reached:
                        reached.add(sub.id)
                        todo.append(sub.id)
        digest = hashlib.sha256()
        for key in sorted(reached):
            for text, _ in bound[key]:
                digest.update(f"{key}\t{text}\n".encode())
        result[name] = digest.hexdigest()
    return result


def sky_source_dir() -> Optional[str]:
    """The installed ``sky`` package's directory, found without importing it."""
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("sky")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def module_path(sky_dir: str, module: str) -> str:
    """The source file of SkyPilot module ``module`` in the ``sky`` package at ``sky_dir``."""
    return os.path.join(sky_dir, *module.split(".")[1:]) + ".py"


def module_fingerprints(
    sky_dir: str, upstream: Mapping[str, Sequence[str]]
) -> Dict[str, Dict[str, Optional[str]]]:
    """Fingerprints for ``{module: names}`` read from the ``sky`` package at ``sky_dir``."""
    result: Dict[str, Dict[str, Optional[str]]] = {}
    for module, names in upstream.items():
        with open(module_path(sky_dir, module), encoding="utf-8") as f:
            result[module] = source_fingerprints(f.read(), names)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .skypilot import UPSTREAM_NAMES

    args = list(sys.argv[1:] if argv is None else argv)
    sky_dir = args[0] if args else sky_source_dir()
    if sky_dir is None:
        print("no SkyPilot found: pass the sky package's directory", file=sys.stderr)
        return 2
    print(json.dumps(module_fingerprints(sky_dir, UPSTREAM_NAMES), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
