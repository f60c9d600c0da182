"""Table cells as text, shared by the Markdown and HTML reports: numbers, mean ± SD, Markdown table lines."""

from __future__ import annotations

import math


def number(value: float | None, digits: int = 3) -> str:
    """A value to `digits` decimals, or an en dash for a missing (None or NaN) one."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def mean_sd(mean: float, sd: float | None, digits: int = 3) -> str:
    """'mean ± sd', just the mean when the SD is missing (one seed), an en dash when the mean is."""
    if number(mean) == "–":
        return "–"
    return number(mean, digits) + ("" if number(sd) == "–" else f" ± {number(sd, digits)}")


def markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]
