"""SQL rules that compute jobs (collectors/) and figures (metrics/) both run, kept once in plumbing
so the two can never drift apart: each rule is a `.sql` file here, read with `load(name)`."""
from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    """The text of `<name>.sql` in this package (packaged as data, see pyproject.toml)."""
    return files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
