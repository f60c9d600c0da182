"""Whether another run's leaderboard lands inside a published leaderboard's CIs, quality column by column.

Usage: .venv/bin/python tests/benchmarks/within_published_ci.py PUBLISHED.csv OTHER.csv [--model NAME]
PUBLISHED.csv gives the intervals (e.g. results/synthetic-fundus/leaderboard.csv); OTHER.csv the means to check (a fresh
clone's leaderboard, or one published before seeds were a factor, read with `git show REV:PATH`). Rows are matched by
implementation and parameters; --model picks OTHER's model when its name differs (a single-seed `resnet18`).
"""

from __future__ import annotations

import argparse

import pandas as pd

from bench.reporting.publish import implementation_label

QUALITY_SUFFIXES = ("_ci_low", "_ci_high", "_seed_sd", "_n", "_undefined", "_ms_per_image", "_rank")


def quality_columns(board: pd.DataFrame) -> list[str]:
    """The metric columns that carry a CI."""
    return [c[: -len("_ci_low")] for c in board.columns if c.endswith("_ci_low") and c[: -len("_ci_low")] in board.columns]


def compare(published: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """One row per (implementation, column): the other run's mean, the published interval, and whether it lies inside."""
    label = lambda b: [implementation_label(i, p) for i, p in zip(b["implementation"], b["params"])]  # noqa: E731
    published, other = published.assign(label=label(published)).set_index("label"), other.assign(label=label(other)).set_index("label")
    rows = []
    for impl in published.index.intersection(other.index):
        for column in quality_columns(published):
            if column not in other.columns or pd.isna(other.loc[impl, column]) or pd.isna(published.loc[impl, column]):
                continue
            low, high, value = published.loc[impl, f"{column}_ci_low"], published.loc[impl, f"{column}_ci_high"], other.loc[impl, column]
            rows.append({"implementation": impl, "column": column, "value": value, "published": published.loc[impl, column],
                         "ci_low": low, "ci_high": high, "inside": bool(low - 1e-9 <= value <= high + 1e-9)})
    return pd.DataFrame(rows)


def main() -> None:
    """Print the count inside and every cell outside."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("published")
    parser.add_argument("other")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    published, other = pd.read_csv(args.published), pd.read_csv(args.other)
    if args.model:
        other = other[other["model"] == args.model]
    table = compare(published, other)
    print(f"{int(table['inside'].sum())} of {len(table)} cells inside the published CIs")
    outside = table[~table["inside"]]
    if not outside.empty:
        print(outside.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
