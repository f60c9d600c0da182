"""Rank statistics batched over bootstrap resamples: Spearman's rho, Kendall's tau-b and Kendall's W."""

from __future__ import annotations

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks (1-based, ties given their average rank) along the last axis, for any leading batch shape."""
    x = np.asarray(x, dtype=np.float64)
    below = (x[..., :, None] > x[..., None, :]).sum(-1)
    equal = (x[..., :, None] == x[..., None, :]).sum(-1)
    return below + (equal + 1) / 2


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho of a and b along the last axis (NaN where either is constant)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean(-1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(-1) * (rb**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (ra * rb).sum(-1) / np.where(denominator > 0, denominator, 1), np.nan)


def kendall(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of a and b along the last axis (NaN where either is constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    da = np.sign(a[..., :, None] - a[..., None, :])
    db = np.sign(b[..., :, None] - b[..., None, :])
    upper = np.triu(np.ones(da.shape[-2:], dtype=bool), 1)
    s = (da * db * upper).sum((-2, -1))
    pairs_a = ((da != 0) & upper).sum((-2, -1))
    pairs_b = ((db != 0) & upper).sum((-2, -1))
    denominator = np.sqrt(pairs_a * pairs_b.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, s / np.where(denominator > 0, denominator, 1), np.nan)


def kendall_w(scores: np.ndarray) -> float:
    """Kendall's coefficient of concordance of m raters (rows) ranking n items (columns), corrected for ties; NaN below 2 x 2."""
    scores = np.asarray(scores, dtype=np.float64)
    m, n = scores.shape
    if m < 2 or n < 2:
        return float("nan")
    ranks = average_ranks(scores)
    s = ((ranks.sum(0) - m * (n + 1) / 2) ** 2).sum()
    ties = 0.0
    for row in scores:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    return float(12 * s / denominator) if denominator > 0 else float("nan")


def bootstrap_correlation(x: np.ndarray, y: np.ndarray, *, resamples: int, confidence: float, seed: int) -> dict[str, float]:
    """Spearman's rho and Kendall's tau-b of x and y with percentile bootstrap intervals over the pairs (resampled together)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"pairs": len(x)}
    if len(x) < 3:
        return out | {f"{name}{part}": float("nan") for name in ("spearman", "kendall") for part in ("", "_ci_low", "_ci_high")}
    index = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    alpha = (1 - confidence) / 2
    for name, statistic in (("spearman", spearman), ("kendall", kendall)):
        draws = statistic(x[index], y[index])
        draws = draws[np.isfinite(draws)]
        low, high = np.quantile(draws, [alpha, 1 - alpha]) if len(draws) else (np.nan, np.nan)
        out |= {name: float(statistic(x, y)), f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}
    return out
