"""Comments state rules, not history: no commit hashes or dated results in code.

The story of a change belongs in docs/changelog.md or its commit message; a
comment or docstring that cites a commit or a day's measurement goes stale the
moment the code moves.  Checks every comment and docstring of the repository's
code (Python, Cython, C headers, shell scripts).  Runs from a checkout or an
sdist (both carry the sources); skipped where only the installed package is.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("skyfast", "startup", "tests", "benchmarks", ".ci")
# A short commit hash: 7-12 hex digits, at least one letter and one digit.
COMMIT = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,12}\b")
DATE = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b")


def python_text(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python file."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                yield getattr(node, "lineno", 1), doc


def other_text(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, text) of comment lines in Cython, C and shell sources (and Cython docstrings)."""
    in_doc = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_doc or quotes or stripped.startswith(("#", "//", "/*", "*")):
            yield number, line
        elif "#" in line or "/*" in line:
            yield number, line[min(i for i in (line.find("#"), line.find("/*")) if i >= 0):]
        if quotes % 2:
            in_doc = not in_doc


def sources() -> List[Path]:
    found = [ROOT / "setup.py"]
    for directory in CODE_DIRS:
        for pattern in ("*.py", "*.pyx", "*.pyi", "*.h", "*.sh", "run"):
            found += (ROOT / directory).rglob(pattern)
    return sorted(p for p in set(found) if p.is_file() and "__pycache__" not in p.parts)


def test_no_commit_hash_or_date_in_comments() -> None:
    if not (ROOT / "skyfast" / "_core_py.py").is_file() or not (ROOT / "startup").is_dir():
        pytest.skip("no source tree beside the tests")
    found = []
    for path in sources():
        reader = python_text if path.suffix == ".py" else other_text
        for line, text in reader(path):
            for pattern in (COMMIT, DATE):
                for match in pattern.finditer(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {match.group()}")
    assert not found, "history in code (move it to docs/changelog.md):\n" + "\n".join(found)


@pytest.mark.parametrize("text", ["fixed at 1f1df5f", "measured 2026-11-29", "(commit 744c759)"])
def test_the_check_sees_history(text: str) -> None:
    assert COMMIT.search(text) or DATE.search(text)


@pytest.mark.parametrize("text", ["0x9fa0", "'dfmquqz0jkxzvjnuavfh6yd5j'", "sha256", "deadbeef"])
def test_the_check_leaves_code_words_alone(text: str) -> None:
    assert not COMMIT.search(text) and not DATE.search(text)
