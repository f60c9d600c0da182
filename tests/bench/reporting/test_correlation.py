"""Rank statistics against scipy, batched and one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.reporting.correlation import average_ranks, bootstrap_correlation, kendall, kendall_w, spearman


def test_spearman_and_kendall_match_scipy_with_ties_and_in_batches() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, (6, 9)).astype(float), rng.integers(0, 4, (6, 9)).astype(float)
    rho, tau = spearman(a, b), kendall(a, b)
    for i in range(6):
        assert rho[i] == pytest.approx(stats.spearmanr(a[i], b[i]).statistic)
        assert tau[i] == pytest.approx(stats.kendalltau(a[i], b[i]).statistic)


def test_constant_inputs_have_no_correlation() -> None:
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))
    assert np.isnan(kendall(np.arange(5.0), np.full(5, 2.0)))


def test_average_ranks_match_scipy_rankdata() -> None:
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    assert average_ranks(x).tolist() == stats.rankdata(x).tolist()


def test_kendall_w_is_the_friedman_statistic_rescaled() -> None:
    # W = chi2_F / (m (n - 1)), both corrected for ties (Friedman 1937; Kendall & Babington Smith 1939).
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, (7, 4)).astype(float)
    chi2 = stats.friedmanchisquare(*scores.T).statistic
    assert kendall_w(scores) == pytest.approx(chi2 / (7 * 3))


def test_kendall_w_is_one_for_identical_rankings_and_near_zero_for_opposed_pairs() -> None:
    assert kendall_w(np.tile([0.1, 0.5, 0.9, 0.3], (5, 1))) == pytest.approx(1.0)
    assert kendall_w(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])) == pytest.approx(0.0)


def test_bootstrap_correlation_interval_covers_a_strong_trend() -> None:
    x = np.arange(12.0)
    y = x + np.random.default_rng(1).normal(0, 1.0, 12)
    out = bootstrap_correlation(x, y, resamples=500, confidence=0.95, seed=0)
    assert out["pairs"] == 12 and out["spearman_ci_low"] > 0.5 and out["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert out["kendall_ci_low"] <= out["kendall"] <= out["kendall_ci_high"]
