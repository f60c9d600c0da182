"""The hierarchical bootstrap (seeds, then samples) against its exact distribution enumerated on a small case."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.reporting.bootstrap import bootstrap_ci, curve_band, hierarchical_means, point_estimate, seed_estimate


def _exact(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every outcome of resampling the groups, then each drawn group's samples, with its probability."""
    within = []
    for g in groups:
        draws = list(itertools.product(range(len(g)), repeat=len(g)))
        within.append(np.array([g[list(d)].mean() for d in draws]))
    values, weights = [], []
    picks = list(itertools.product(range(len(groups)), repeat=len(groups)))
    for picked in picks:
        # Given the drawn groups, their resampled means are independent and each combination equally likely.
        combos = list(itertools.product(*(within[p] for p in picked)))
        values += [np.mean(c) for c in combos]
        weights += [1.0 / (len(picks) * len(combos))] * len(combos)
    return np.asarray(values), np.asarray(weights)


def test_monte_carlo_distribution_matches_the_enumerated_one() -> None:
    groups = [np.array([0.0, 1.0]), np.array([2.0, 5.0, 3.0]), np.array([4.0, 4.5])]
    values, weights = _exact(groups)
    draws = hierarchical_means([groups], resamples=200_000, rng=np.random.default_rng(0))
    exact_mean = float((values * weights).sum())
    exact_var = float((weights * (values - exact_mean) ** 2).sum())
    assert draws.mean() == pytest.approx(exact_mean, abs=4 * np.sqrt(exact_var / len(draws)))
    assert draws.var() == pytest.approx(exact_var, rel=0.02)
    for t in np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95]):
        assert (draws <= t).mean() == pytest.approx(weights[values <= t].sum(), abs=0.005)


def test_variance_is_the_law_of_total_variance_over_drawn_seeds() -> None:
    # Each drawn seed contributes its mean plus resampling noise of variance s_g^2 / n_g (s with ddof 0), so the mean of
    # G draws has variance (Var over seeds of the means + mean of s_g^2 / n_g) / G, far above the pooled sample bootstrap's.
    rng = np.random.default_rng(1)
    groups = [rng.normal(mu, 0.3, n) for mu, n in ((0.0, 20), (1.0, 15), (2.0, 25))]
    draws = hierarchical_means([groups], resamples=40_000, rng=np.random.default_rng(2))
    means = np.array([g.mean() for g in groups])
    expected = (means.var() + np.mean([g.var() / len(g) for g in groups])) / len(groups)
    assert draws.var() == pytest.approx(expected, rel=0.03)
    pooled = np.concatenate(groups)
    assert draws.var() > 10 * pooled.var() / len(pooled)


def test_strata_are_averaged_and_resampled_apart() -> None:
    a, b = [np.array([1.0, 1.0]), np.array([1.0, 1.0])], [np.array([3.0, 3.0])]
    assert point_estimate([a, b]) == pytest.approx(2.0)
    draws = hierarchical_means([a, b], resamples=50, rng=np.random.default_rng(0))
    assert np.allclose(draws, 2.0)


def test_one_seed_falls_back_to_the_sample_bootstrap() -> None:
    values = np.random.default_rng(4).normal(0, 1, 30)
    est = seed_estimate([[values]], resamples=500, confidence=0.9, seed=7)
    assert (est.ci_low, est.ci_high) == bootstrap_ci(values, resamples=500, confidence=0.9, seed=7)
    assert est.seeds == 1 and np.isnan(est.seed_sd) and est.n == 30


def test_seed_estimate_reports_the_between_seed_sd_and_skips_empty_seeds() -> None:
    est = seed_estimate([[np.array([1.0, 3.0]), np.array([5.0]), np.array([])]], resamples=200, confidence=0.95, seed=0)
    assert est.mean == pytest.approx(3.5) and est.seed_sd == pytest.approx(np.std([2.0, 5.0], ddof=1))
    assert est.seeds == 2 and est.n == 3 and est.ci_low <= est.mean <= est.ci_high


def test_a_curve_band_is_the_scalar_bootstrap_at_every_point() -> None:
    rng = np.random.default_rng(1)
    curves = [[rng.random((6, 4)), rng.random((5, 4))], [rng.random((7, 4))]]
    mean, low, high = curve_band(curves, resamples=4000, confidence=0.9, seed=3)
    for k in range(4):
        column = [[g[:, k] for g in stratum] for stratum in curves]
        assert mean[k] == pytest.approx(point_estimate(column))
        draws = hierarchical_means(column, resamples=4000, rng=np.random.default_rng(3))
        # The same random draws pick the same seeds and samples for every point, so each point's band is the scalar one.
        assert (low[k], high[k]) == pytest.approx(tuple(np.quantile(draws, [0.05, 0.95])))
    assert np.all(low <= mean) and np.all(mean <= high)
