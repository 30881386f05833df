"""The tests' own layout: no file under tests/ imports a test module (`test_*`) or conftest.
Shared worlds and helpers live in support modules (tests/worlds/, tests/processes.py, ...);
fixtures reach tests through pytest, never through an import of conftest."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _forbidden(node: ast.AST) -> list[str]:
    """The modules a test file must not import that this import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        names = [base, *(f"{base}.{a.name}" for a in node.names)]
    else:
        return []
    return [n for n in names if any(part.startswith("test_") or part == "conftest" for part in n.split(".") if part)]


def test_no_test_module_imports_another_or_conftest():
    found = [f"{path.relative_to(TESTS)}:{node.lineno}: {name}"
             for path in sorted(TESTS.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             for name in _forbidden(node)]
    assert found == []


def test_the_guard_sees_each_form():
    src = ("import test_a\nimport tests.test_b as b\nfrom test_c import x\nfrom tests.test_d import y\n"
           "from tests import test_e\nfrom tests.conftest import Z\nfrom . import conftest\nimport conftest\n"
           "from tests.worlds.recon import t\nfrom tests import processes\nimport pytest\n")
    flagged = {node.lineno for node in ast.walk(ast.parse(src)) if _forbidden(node)}
    assert flagged == set(range(1, 9))  # the first eight lines; support modules and libraries are fine
