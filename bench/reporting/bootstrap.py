"""Bootstrap intervals: over samples, and hierarchical over training seeds then samples (settings as strata)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def bootstrap_ci(values: np.ndarray, *, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class SeedEstimate:
    """A metric over training seeds: mean of the seed means, its interval, the between-seed SD and the counts."""

    mean: float
    ci_low: float
    ci_high: float
    seed_sd: float
    seeds: int
    n: int


def _nonempty(strata: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    kept = [[np.asarray(g, dtype=np.float64) for g in stratum if len(g)] for stratum in strata]
    return [s for s in kept if s]


def _strata_mean(kept: list[list[np.ndarray]]) -> np.ndarray:
    """Mean over strata of the mean over seeds of each seed's mean over samples (pointwise for (n, L) curves)."""
    return np.mean([np.mean([g.mean(axis=0) for g in s], axis=0) for s in kept], axis=0)


def _interval(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    return low, high


def point_estimate(strata: list[list[np.ndarray]]) -> float:
    """Mean over strata of the mean over seeds of each seed's sample mean (NaN when nothing is defined)."""
    kept = _nonempty(strata)
    return float(_strata_mean(kept)) if kept else float("nan")


def curve_band(strata: list[list[np.ndarray]], *, resamples: int, confidence: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise mean (mean over seeds of each seed's mean curve) and hierarchical bootstrap interval of (n, L) curves."""
    kept = _nonempty(strata)
    low, high = _interval(hierarchical_means(kept, resamples=resamples, rng=np.random.default_rng(seed)), confidence)
    return _strata_mean(kept), low, high


def hierarchical_means(strata: list[list[np.ndarray]], *, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distribution of point_estimate: within each stratum the seeds are resampled, then each drawn seed's samples.

    A seed's values may be (n,) or (n, L) (a curve per sample): the distribution is then (resamples, L), pointwise.
    """
    kept = _nonempty(strata)
    tail = kept[0][0].shape[1:] if kept else ()
    total = np.zeros((resamples, *tail))
    for stratum in kept:
        picks = rng.integers(0, len(stratum), size=(resamples, len(stratum)))
        drawn = np.empty(picks.shape + tail)
        # One loop step per seed (a handful), each drawing every resample that picked it at once.
        for g, values in enumerate(stratum):
            where = picks == g
            k = int(where.sum())
            drawn[where] = values[rng.integers(0, len(values), size=(k, len(values)))].mean(axis=1)
        total += drawn.mean(axis=1)
    return total / max(len(kept), 1)


def seed_estimate(strata: list[list[np.ndarray]], *, resamples: int, confidence: float, seed: int) -> SeedEstimate:
    """The estimate with a hierarchical bootstrap interval; a single seed falls back to the sample bootstrap, as before seeds were a factor."""
    kept = _nonempty(strata)
    seeds = sum(len(s) for s in kept)
    n = sum(len(g) for s in kept for g in s)
    if not kept:
        return SeedEstimate(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0)
    seed_means = [g.mean() for s in kept for g in s]
    seed_sd = float(np.std(seed_means, ddof=1)) if seeds > 1 else float("nan")
    if all(len(s) == 1 for s in kept) and len(kept) == 1:
        low, high = bootstrap_ci(kept[0][0], resamples=resamples, confidence=confidence, seed=seed)
        return SeedEstimate(float(kept[0][0].mean()), low, high, seed_sd, seeds, n)
    low, high = _interval(hierarchical_means(kept, resamples=resamples, rng=np.random.default_rng(seed)), confidence)
    return SeedEstimate(point_estimate(kept), float(low), float(high), seed_sd, seeds, n)
