"""Two leaderboards side by side: which cells moved beyond their CIs and which ranks changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.errors import InputError
from bench.reporting.publish import implementation_label

KEY = ["model", "implementation", "params"]
STATUSES = ("inside", "outside", "moved")


def read_board(path: str | Path) -> pd.DataFrame:
    """A leaderboard from its CSV or from a results folder holding leaderboard.csv; errors name the file and column."""
    path = Path(path)
    file = path / "leaderboard.csv" if path.is_dir() else path
    if not file.is_file():
        raise InputError(file, None, "no such leaderboard (give a leaderboard.csv or a results folder holding one)")
    board = pd.read_csv(file)
    for column in KEY:
        if column not in board.columns:
            raise InputError(file, column, "missing: not a leaderboard written by bench")
    board["params"] = board["params"].fillna("{}")
    board.attrs["file"] = str(file)
    return board


def quality_columns(board: pd.DataFrame) -> list[str]:
    """The metric columns that carry a CI."""
    return [c[: -len("_ci_low")] for c in board.columns if c.endswith("_ci_low") and c[: -len("_ci_low")] in board.columns]


def compare_cells(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, implementation, column) both boards hold: both means and CIs, and the status of B against A:
    "inside" A's CI, "outside" it while the CIs overlap, or "moved" (the CIs are disjoint)."""
    columns = [c for c in quality_columns(a) if c in set(quality_columns(b))]
    merged = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    rows = []
    for _, r in merged.iterrows():
        for c in columns:
            mean_a, low_a, high_a = r[f"{c}_a"], r[f"{c}_ci_low_a"], r[f"{c}_ci_high_a"]
            mean_b, low_b, high_b = r[f"{c}_b"], r[f"{c}_ci_low_b"], r[f"{c}_ci_high_b"]
            if any(pd.isna(v) for v in (mean_a, low_a, high_a, mean_b, low_b, high_b)):
                continue
            inside = low_a - 1e-9 <= mean_b <= high_a + 1e-9
            disjoint = high_b < low_a - 1e-9 or low_b > high_a + 1e-9
            rows.append({"model": r["model"], "implementation": implementation_label(r["implementation"], r["params"]), "column": c,
                         "a": mean_a, "a_ci_low": low_a, "a_ci_high": high_a, "b": mean_b, "b_ci_low": low_b, "b_ci_high": high_b,
                         "difference": mean_b - mean_a, "status": "inside" if inside else "moved" if disjoint else "outside"})
    return pd.DataFrame(rows, columns=["model", "implementation", "column", "a", "a_ci_low", "a_ci_high", "b", "b_ci_low", "b_ci_high",
                                       "difference", "status"])


def rank_changes(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per (model, column): every implementation whose rank differs between the boards."""
    columns = [c for c in quality_columns(a) if c in set(quality_columns(b)) and f"{c}_rank" in a.columns and f"{c}_rank" in b.columns]
    merged = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    rows = []
    for _, r in merged.iterrows():
        for c in columns:
            rank_a, rank_b = r[f"{c}_rank_a"], r[f"{c}_rank_b"]
            if not (pd.isna(rank_a) and pd.isna(rank_b)) and rank_a != rank_b:
                rows.append({"model": r["model"], "implementation": implementation_label(r["implementation"], r["params"]), "column": c,
                             "rank_a": rank_a, "rank_b": rank_b})
    return pd.DataFrame(rows, columns=["model", "implementation", "column", "rank_a", "rank_b"])


def unmatched_rows(a: pd.DataFrame, b: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Rows only in A and rows only in B, as model / implementation labels."""
    def labels(board: pd.DataFrame) -> set[str]:
        return {f"{m} / {implementation_label(i, p)}" for m, i, p in zip(board["model"], board["implementation"], board["params"])}

    left, right = labels(a), labels(b)
    return sorted(left - right), sorted(right - left)


def _f(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.3f}"


def compare_markdown(a: pd.DataFrame, b: pd.DataFrame, *, limit: int = 40) -> str:
    """The comparison as Markdown: counts, the cells that left A's CI (moved first), rank changes and unmatched rows."""
    cells, ranks = compare_cells(a, b), rank_changes(a, b)
    only_a, only_b = unmatched_rows(a, b)
    counts = cells["status"].value_counts()
    name_a, name_b = a.attrs.get("file", "A"), b.attrs.get("file", "B")
    lines = ["# Leaderboard comparison", "", f"A: `{name_a}`  ", f"B: `{name_b}`", "",
             f"{counts.get('inside', 0)} of {len(cells)} cells of B lie inside A's CIs; {counts.get('outside', 0)} lie outside with "
             f"overlapping CIs; {counts.get('moved', 0)} moved (disjoint CIs). {len(ranks)} ranks changed.", ""]
    off = cells[cells["status"] != "inside"].assign(order=lambda t: t["status"].map({"moved": 0, "outside": 1}))
    off = off.assign(size=off["difference"].abs()).sort_values(["order", "size"], ascending=[True, False])
    if not off.empty:
        lines += ["## Cells outside A's CI", "", "| model | implementation | column | A [CI] | B [CI] | B − A | status |", "|---|---|---|---|---|---|---|"]
        for _, r in off.head(limit).iterrows():
            lines.append(f"| {r['model']} | `{r['implementation']}` | {r['column']} | {_f(r['a'])} [{_f(r['a_ci_low'])}, {_f(r['a_ci_high'])}] | "
                         f"{_f(r['b'])} [{_f(r['b_ci_low'])}, {_f(r['b_ci_high'])}] | {r['difference']:+.3f} | {r['status']} |")
        if len(off) > limit:
            lines.append(f"| … {len(off) - limit} more (write them all with --csv) | | | | | | |")
        lines.append("")
    if not ranks.empty:
        lines += ["## Rank changes", "", "| model | implementation | column | rank in A | rank in B |", "|---|---|---|---|---|"]
        for _, r in ranks.head(limit).iterrows():
            lines.append(f"| {r['model']} | `{r['implementation']}` | {r['column']} | {r['rank_a']:.0f} | {r['rank_b']:.0f} |")
        if len(ranks) > limit:
            lines.append(f"| … {len(ranks) - limit} more | | | | |")
        lines.append("")
    for title, rows in (("Only in A", only_a), ("Only in B", only_b)):
        if rows:
            lines += [f"## {title}", "", *[f"- {r}" for r in rows], ""]
    return "\n".join(lines)
