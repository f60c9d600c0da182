"""Our metrics against Quantus (a test-only dependency) where the definitions coincide, parameters matched."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bench.metrics import MetricContext
from bench.metrics.complexity import Complexity, Sparseness
from bench.metrics.localisation import EnergyInMask, PixelAUROC, RelevanceRank
from bench.metrics.maps import normalised
from tests.nets import gap_net

quantus = pytest.importorskip("quantus")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3, 16, 16)).astype(np.float32)
Y = np.array([0, 1, 2, 1])
A = RNG.random((4, 1, 16, 16)).astype(np.float32)
S = (RNG.random((4, 1, 16, 16)) > 0.6).astype(np.float32)


def theirs(metric, a: np.ndarray = A) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metric(model=gap_net(2), x_batch=X, y_batch=Y, a_batch=a, s_batch=S, device="cpu"), dtype=np.float64)


def ours(metric, a: np.ndarray = A) -> np.ndarray:
    ctx = MetricContext(maps=torch.from_numpy(a[:, 0]), x=torch.from_numpy(X), target=torch.from_numpy(Y),
                        masks=torch.from_numpy(S[:, 0] > 0))
    return metric(ctx).double().numpy()


def test_sparseness_equals_quantus() -> None:
    np.testing.assert_allclose(ours(Sparseness()), theirs(quantus.Sparseness(normalise=False, abs=True, disable_warnings=True)), rtol=1e-5)


def test_complexity_equals_quantus() -> None:
    np.testing.assert_allclose(ours(Complexity()), theirs(quantus.Complexity(normalise=False, abs=True, disable_warnings=True)), rtol=1e-5)


def test_relevance_rank_equals_quantus() -> None:
    expected = theirs(quantus.RelevanceRankAccuracy(normalise=False, abs=False, disable_warnings=True))
    np.testing.assert_allclose(ours(RelevanceRank()), expected, rtol=1e-6)


def test_pixel_auroc_equals_quantus_auc() -> None:
    np.testing.assert_allclose(ours(PixelAUROC()), theirs(quantus.AUC(normalise=False, abs=False, disable_warnings=True)), rtol=1e-6)


def test_energy_in_mask_is_quantus_relevance_mass_on_the_normalised_map() -> None:
    """Quantus's relevance mass uses the map as given; ours normalises (relu, min-max) first: equal on normalised maps."""
    a_hat = normalised(torch.from_numpy(A[:, 0])).numpy()[:, None]
    expected = theirs(quantus.RelevanceMassAccuracy(normalise=False, abs=False, disable_warnings=True), a_hat)
    np.testing.assert_allclose(ours(EnergyInMask(), a_hat), expected, rtol=1e-5)
    shifted = A + 1.0  # a map far from zero: Quantus keeps the offset, min-max removes it
    raw = theirs(quantus.RelevanceMassAccuracy(normalise=False, abs=False, disable_warnings=True), shifted)
    assert np.abs(raw - ours(EnergyInMask(), shifted)).max() > 0.01
