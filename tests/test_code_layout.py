"""The product's own layout rules that the import contract (lint-imports in scripts/test.sh) does
not see: no file grows past 400 lines, no private name (`_x`) is imported from another module,
and app.py (a module, outside the contract's packages) imports plumbing only."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("revwatch", "metrics", "collectors", "pages", "demoworld", "app")
MAX_LINES = 400


def product_files() -> list[Path]:
    """Every product source file: the packages and app.py; migrations are history, not code to carry."""
    files = [ROOT / "app.py"]
    for package in FIRST_PARTY[:-1]:
        files += (p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    return sorted(files)


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`from <first-party module> import _name` statements of one file."""
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.relative_to(root)}:{node.lineno}: {node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FIRST_PARTY
            for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]


def test_no_product_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in product_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_private_name_crosses_a_module():
    found = [hit for p in [*product_files(), *sorted((ROOT / "tests").rglob("*.py"))] for hit in private_imports(p)]
    assert found == []


def test_the_private_import_guard_sees_them(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from metrics.figures.query import read_rows, _hidden\nfrom os import _exit\n"
                      "from revwatch import clock\nfrom collectors.jobs import __all__\n")
    assert private_imports(sample, tmp_path) == ["sample.py:1: metrics.figures.query._hidden"]


def test_app_imports_plumbing_only():
    """app.py is the router: plumbing, and the sign-in gate every page passes through first (issue 18)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                for a in n.names if n.module == "pages.common"]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    gate = {"pages.common", "pages.common.signin"}
    assert [m for m in modules if m.split(".")[0] in FIRST_PARTY and not m.startswith("revwatch") and m not in gate] == []
    assert [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "pages.common"
            for a in n.names] == ["signin"]


def test_every_page_signs_its_person_in_before_it_shows_anything():
    """Issue 18: a page run without app.py (a fresh server's first request, at the page's own URL) must not show
    its figures to someone not signed in: each page's first statement at module level is signin.gate()."""
    for path in sorted((ROOT / "pages").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                                                          ast.Assign, ast.AnnAssign))
                and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]  # the docstring
        first = ast.unparse(body[0]) if body else ""
        assert first == "signin.gate()", f"{path.name}: first runs {first!r}"
