"""Sparseness (Gini) and complexity (entropy) against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.metrics import MetricContext
from bench.metrics.complexity import Complexity, Sparseness


def ctx(maps: torch.Tensor) -> MetricContext:
    return MetricContext(maps=maps, x=torch.zeros(maps.shape[0], 3, *maps.shape[1:]), target=torch.zeros(maps.shape[0], dtype=torch.long))


def gini_mean_difference(v: np.ndarray) -> float:
    """Gini as half the relative mean absolute difference, computed pair by pair."""
    n = len(v)
    return float(np.abs(v[:, None] - v[None, :]).sum() / (2 * n * n * v.mean()))


def test_sparseness_is_the_gini_index() -> None:
    maps = torch.randn(3, 6, 7, generator=torch.Generator().manual_seed(0))
    got = Sparseness()(ctx(maps))
    for n in range(3):
        assert got[n].item() == pytest.approx(gini_mean_difference(maps[n].abs().flatten().double().numpy()), rel=1e-5)
    one_hot = torch.zeros(1, 10, 10)
    one_hot[0, 3, 3] = 5.0
    assert Sparseness()(ctx(one_hot)).item() == pytest.approx(1 - 1 / 100)
    assert Sparseness()(ctx(torch.full((1, 4, 4), 2.0))).item() == pytest.approx(0.0, abs=1e-7)


def test_complexity_is_the_entropy_of_the_normalised_mass() -> None:
    maps = torch.tensor([[[1.0, -1.0], [2.0, 0.0]]])
    p = np.array([0.25, 0.25, 0.5])
    assert Complexity()(ctx(maps)).item() == pytest.approx(float(-(p * np.log(p)).sum()))
    assert Complexity()(ctx(torch.ones(1, 4, 4))).item() == pytest.approx(math.log(16))


@pytest.mark.parametrize("metric", [Sparseness(), Complexity()])
def test_all_zero_and_nan_maps_are_undefined(metric) -> None:
    assert math.isnan(metric(ctx(torch.zeros(1, 3, 3))).item())
    broken = torch.rand(1, 3, 3)
    broken[0, 1, 1] = float("nan")
    assert math.isnan(metric(ctx(broken)).item())
