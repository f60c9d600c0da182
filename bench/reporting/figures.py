"""The report's figures, drawn with matplotlib (headless) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

# Perceptually uniform, and readable in grey: the report's one stated colormap.
COLORMAP = "viridis"


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def pareto_front(cost: np.ndarray, quality: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Which points no other point beats on both cost (lower) and quality."""
    q = quality if higher_is_better else -quality
    front = np.ones(len(cost), dtype=bool)
    for i in range(len(cost)):
        better = (cost <= cost[i]) & (q >= q[i]) & ((cost < cost[i]) | (q > q[i]))
        front[i] = not better.any()
    return front


def cost_quality_figure(board: pd.DataFrame, column: str, higher_is_better: bool) -> bytes | None:
    """Runtime per image against one metric, one point per implementation, the Pareto front joined; None without timings."""
    data = board[["implementation", "runtime_ms_median", column]].dropna()
    if data.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cost, quality = data["runtime_ms_median"].to_numpy(float), data[column].to_numpy(float)
    front = pareto_front(cost, quality, higher_is_better)
    ax.scatter(cost[~front], quality[~front], color="0.6", s=24, label="dominated")
    order = np.argsort(cost[front])
    ax.plot(cost[front][order], quality[front][order], "o-", color=_pyplot().get_cmap(COLORMAP)(0.35), label="Pareto front")
    for name, x, y, on in zip(data["implementation"], cost, quality, front):
        if on:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("runtime, median ms per image (log)")
    ax.set_ylabel(f"{column} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.legend(fontsize=7)
    return _png(fig)


def factor_figure(levels: pd.DataFrame, factor: str, metric: str) -> bytes:
    """One metric against one factor's levels: the mean over seeds with its CI, one line per method."""
    plt = _pyplot()
    rows = levels[(levels["factor"] == factor) & (levels["metric"] == metric)]
    order = list(dict.fromkeys(rows["level"]))
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    # Methods are categories: a qualitative palette tells neighbours apart, where the heatmaps' colormap would not.
    cmap = plt.get_cmap("tab10")
    methods = list(dict.fromkeys(rows["implementation"]))
    for k, (name, group) in enumerate(rows.groupby("implementation", sort=False)):
        group = group.set_index("level").reindex(order)
        x = np.arange(len(order)) + (k - (len(methods) - 1) / 2) * 0.06
        mean = group["mean"].to_numpy(float)
        err = np.vstack([mean - group["ci_low"].to_numpy(float), group["ci_high"].to_numpy(float) - mean])
        ax.errorbar(x, mean, yerr=np.clip(err, 0, None), marker="o", ms=4, capsize=3, lw=1,
                    color=cmap(k % 10), label=name)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel(factor)
    ax.set_ylabel(metric)
    ax.legend(fontsize=6, ncol=2)
    return _png(fig)


def confusion_figure(matrix: list[list[int]], classes: list[str]) -> bytes:
    """A confusion matrix as a heatmap with counts (rows: true class)."""
    plt = _pyplot()
    values = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * len(classes), 1.0 + 0.5 * len(classes)))
    ax.imshow(values, cmap=COLORMAP)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{int(values[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if values[i, j] < values.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _png(fig)
