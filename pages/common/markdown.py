"""Text from sources and people, made safe to put into the Markdown that Streamlit renders.

An identifier typed into Trace, a job's error, a site's name or a bank reference can hold
Markdown (`[Reset your password](https://…)`, `**`, a backtick that ends a code span, HTML);
put into `st.markdown`, `st.caption`, `st.warning` … as is, it would render as a live link or
markup. `text()` escapes every character CommonMark gives a meaning to; `code()` wraps a value
in a code span that no backtick inside it can end (CommonMark: a fence longer than any run of
backticks in the content).
"""
from __future__ import annotations

import re

# CommonMark's ASCII punctuation that can start or end markup, plus the characters of HTML and of
# Streamlit's own extensions (:material/icon:, :color[text], $math$)
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")
_BACKTICKS = re.compile(r"`+")


def text(value: object) -> str:
    """`value` as literal text inside Markdown (newlines kept as spaces: one value, one line)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).splitlines()))


def code(value: object) -> str:
    """`value` as an inline code span that shows it verbatim, whatever backticks it holds."""
    s = " ".join(str(value).splitlines())
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"
