"""bench compare: cells of one leaderboard against another's CIs, rank changes, unmatched rows, bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.cli import main
from bench.core.errors import InputError
from bench.reporting.compare import compare_cells, compare_markdown, rank_changes, read_board


def _board(rows: list[tuple[str, float, float, float, int]]) -> pd.DataFrame:
    """A leaderboard with one metric: (implementation, mean, ci_low, ci_high, rank) per row."""
    return pd.DataFrame([{"model": "m", "implementation": impl, "params": "{}", "iou": mean, "iou_ci_low": low, "iou_ci_high": high,
                          "iou_rank": rank} for impl, mean, low, high, rank in rows])


A = _board([("a", 0.50, 0.40, 0.60, 1), ("b", 0.30, 0.25, 0.35, 2), ("c", 0.20, 0.15, 0.25, 3), ("gone", 0.1, 0.0, 0.2, 4)])
B = _board([("a", 0.55, 0.45, 0.65, 2), ("b", 0.38, 0.33, 0.43, 3), ("c", 0.70, 0.65, 0.75, 1), ("new", 0.1, 0.0, 0.2, 4)])


def test_each_cell_is_inside_outside_or_moved() -> None:
    cells = compare_cells(A, B).set_index("implementation")
    assert cells["status"].to_dict() == {"a": "inside", "b": "outside", "c": "moved"}
    assert cells.loc["c", "difference"] == pytest.approx(0.5)


def test_rank_changes_and_unmatched_rows_are_listed() -> None:
    ranks = rank_changes(A, B).set_index("implementation")
    assert ranks.loc["c", "rank_a"] == 3 and ranks.loc["c", "rank_b"] == 1 and len(ranks) == 3
    text = compare_markdown(A, B)
    assert "1 of 3 cells of B lie inside A's CIs; 1 lie outside with overlapping CIs; 1 moved" in text
    assert text.index("| m | `c` |") < text.index("| m | `b` |")  # moved cells first
    assert "## Only in A\n\n- m / gone" in text and "## Only in B\n\n- m / new" in text


def test_the_command_reads_folders_and_writes_every_cell(tmp_path, capsys) -> None:
    (tmp_path / "a").mkdir()
    A.to_csv(tmp_path / "a" / "leaderboard.csv", index=False)
    B.to_csv(tmp_path / "b.csv", index=False)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b.csv"), "--csv", str(tmp_path / "cells.csv")]) == 0
    assert "# Leaderboard comparison" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "cells.csv")["status"].tolist() == ["inside", "outside", "moved"]


def test_bad_input_names_the_file_and_column(tmp_path) -> None:
    with pytest.raises(InputError, match="no such leaderboard"):
        read_board(tmp_path / "missing.csv")
    A.drop(columns="params").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match=r"bad.csv: params: missing"):
        read_board(tmp_path / "bad.csv")
