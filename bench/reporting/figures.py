"""The report's figures, drawn with matplotlib (headless) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

# Perceptually uniform, and readable in grey: the report's one stated colormap.
COLORMAP = "viridis"


def pyplot():  # noqa: ANN201
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


# tab10 without its grey (index 7), which is kept for baselines.
_PALETTE = (0, 1, 2, 3, 4, 5, 6, 8, 9)


def _style(k: int) -> dict:
    """Colour and line style of the k-th line: tab10's categorical colours but grey, then again dashed, dotted, ..."""
    n = len(_PALETTE)
    return {"color": pyplot().get_cmap("tab10")(_PALETTE[k % n]), "linestyle": ("-", "--", ":", "-.")[(k // n) % 4]}


def _baseline_style(k: int) -> dict:
    """Baselines: shades of grey, never solid, so that they read as references."""
    return {"color": ("0.45", "0.65", "0.3")[k % 3], "linestyle": ("--", ":", "-.")[k % 3]}


def pareto_front(cost: np.ndarray, quality: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Which points no other point beats on both cost (lower) and quality."""
    q = quality if higher_is_better else -quality
    front = np.ones(len(cost), dtype=bool)
    for i in range(len(cost)):
        better = (cost <= cost[i]) & (q >= q[i]) & ((cost < cost[i]) | (q > q[i]))
        front[i] = not better.any()
    return front


COSTS = {"runtime_ms_median": "runtime, median ms per image (log)", "peak_memory_mib": "peak memory, MiB (log)"}


def cost_quality_figure(board: pd.DataFrame, column: str, higher_is_better: bool, cost_column: str = "runtime_ms_median") -> bytes | None:
    """A cost (runtime or peak memory) against one metric, one point per implementation, the Pareto front joined; None without it."""
    if cost_column not in board.columns:
        return None
    data = board[["implementation", cost_column, column]].dropna()
    data = data[data[cost_column] > 0]
    if data.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cost, quality = data[cost_column].to_numpy(float), data[column].to_numpy(float)
    front = pareto_front(cost, quality, higher_is_better)
    ax.scatter(cost[~front], quality[~front], color="0.6", s=24, label="dominated")
    order = np.argsort(cost[front])
    ax.plot(cost[front][order], quality[front][order], "o-", color=pyplot().get_cmap(COLORMAP)(0.35), label="Pareto front")
    for name, x, y, on in zip(data["implementation"], cost, quality, front):
        if on:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(COSTS[cost_column])
    ax.set_ylabel(f"{column} ({'higher' if higher_is_better else 'lower'} is better)")
    ax.legend(fontsize=7)
    return _png(fig)


def factor_figure(levels: pd.DataFrame, factor: str, metric: str) -> bytes:
    """One metric against one factor's levels: the mean over seeds with its CI, one line per method."""
    plt = pyplot()
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
    plt = pyplot()
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


def curve_figure(curves: pd.DataFrame, title: str, direction: str, baselines: set[str]) -> bytes:
    """One curve metric of one model: the mean curve per implementation with its CI band (baselines grey, dashed or dotted)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    counts = {True: 0, False: 0}
    for name, rows in curves.groupby("implementation", sort=False):
        x, mean = rows["value"].to_numpy(float), rows["mean"].to_numpy(float)
        baseline = name in baselines
        style = (_baseline_style if baseline else _style)(counts[baseline])
        counts[baseline] += 1
        ax.plot(x, mean, lw=1.2, label=name, marker="o" if len(x) <= 12 else None, ms=3, **style)
        ax.fill_between(x, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float), color=style["color"], alpha=0.15, lw=0)
    parameter = curves["parameter"].iloc[0]
    ax.set_xlabel("fraction of pixels perturbed" if parameter == "fraction" else parameter)
    ax.set_ylabel(f"{curves['metric'].iloc[0]} ({direction} is better)" if parameter != "fraction" else "score of the explained class")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def matrix_figure(matrix: pd.DataFrame, title: str, *, low: float = -1.0, high: float = 1.0) -> bytes:
    """A square table of pairwise values (rows and columns labelled) with the value in each cell, "n/a" where undefined."""
    plt = pyplot()
    values = matrix.to_numpy(float)
    side = 1.6 + 0.42 * len(matrix)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    # Signed agreement needs a diverging map centred on 0; viridis would hide the sign.
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=low, vmax=high)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(values[i, j]) > 0.6 * max(abs(low), abs(high)) else "black")
            else:
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=6, color="0.5")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=60, ha="right", fontsize=6)
    ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=6)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return _png(fig)


def roc_figure(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> bytes:
    """ROC curves (label, false-positive rates, true-positive rates), with the chance diagonal."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, linestyle=":")
    for k, (label, fpr, tpr) in enumerate(curves):
        ax.plot(fpr, tpr, lw=1.2, label=label, drawstyle="default", **_style(k))
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize=6, loc="lower right")
    return _png(fig)
