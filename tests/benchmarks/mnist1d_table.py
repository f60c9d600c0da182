"""The README's MNIST1D table: each method's drop and increase rate averaged over the five training seeds, with the spread
between seeds, beside the study's Table 2; and each seed's test accuracy beside the study's 87.7%.

Run after `bench run suites/mnist1d.toml`:  .venv/bin/python tests/benchmarks/mnist1d_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.reporting.publish import implementation_label

RESULTS = Path("results/mnist1d")
METRICS = {"drop_rate(fraction=0.3)": "drop rate ↓", "increase_rate(fraction=0.3)": "increase rate ↑", "pointing_game": "pointing game ↑",
           "energy_in_mask": "energy in template ↑"}
# The study's Table 2 (top 30% of the map kept, the rest zero); its IG came from tf-explain (channels reduced by abs_sum).
STUDY = {"Grad-CAM": (0.411, 0.301), "Integrated Gradients": (0.409, 0.173)}


def seed_table(board: pd.DataFrame) -> pd.DataFrame:
    """Per implementation: the mean over seeds of each metric's per-seed mean, and the standard deviation between seeds."""
    board = board.assign(label=[implementation_label(i, p) for i, p in zip(board["implementation"], board["params"])])
    rows = []
    for label, per_seed in board.groupby("label", sort=True):
        row = {"implementation": label, "seeds": int(per_seed[list(METRICS)[0]].notna().sum())}
        for column, name in METRICS.items():
            row[name] = f"{per_seed[column].mean():.3f} ± {per_seed[column].std(ddof=1):.3f}" if per_seed[column].notna().any() else "refused"
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    """Print the two Markdown tables."""
    board = pd.read_csv(RESULTS / "leaderboard.csv")
    table = seed_table(board)
    print("| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    print()
    cards = {p.stem: json.loads(p.read_text()) for p in sorted((RESULTS / "models").glob("*.json"))}
    accuracy = {name: card["splits"]["test"]["accuracy"] for name, card in cards.items()}
    values = list(accuracy.values())
    print("| model | test accuracy | selected epoch |\n|---|---|---|")
    for name, card in cards.items():
        print(f"| {name} | {accuracy[name]:.3f} | {card['selected_epoch']} |")
    print(f"| mean ± SD over seeds | {pd.Series(values).mean():.3f} ± {pd.Series(values).std(ddof=1):.3f} | |")
    print("| the study | 0.877 | |")


if __name__ == "__main__":
    main()
