"""Baseline maps against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from adapters.baselines import CentrePrior, ConstantMap, RandomMap
from bench.utils.rng import sample_seeds
from tests.nets import gap_net


def test_centre_prior_is_the_centred_gaussian() -> None:
    out = CentrePrior(gap_net(), sigma=0.25).attribute(torch.zeros(1, 3, 8, 6), torch.tensor([0]))
    i, j = 2, 5
    y, x = (i + 0.5) / 8 - 0.5, (j + 0.5) / 6 - 0.5
    assert out[0, i, j].item() == pytest.approx(math.exp(-(y**2 + x**2) / (2 * 0.25**2)), rel=1e-5)
    assert out[0].argmax().item() in (3 * 6 + 2, 3 * 6 + 3, 4 * 6 + 2, 4 * 6 + 3)


def test_random_map_depends_on_sample_seed_not_position() -> None:
    explainer = RandomMap(gap_net(), seed=1)
    seeds = sample_seeds(0, ["a", "b"])
    both = explainer.attribute(torch.zeros(2, 3, 8, 8), torch.tensor([0, 0]), seeds=seeds)
    swapped = explainer.attribute(torch.zeros(2, 3, 8, 8), torch.tensor([0, 0]), seeds=seeds.flip(0))
    assert torch.equal(both.flip(0), swapped)
    other = RandomMap(gap_net(), seed=2).attribute(torch.zeros(2, 3, 8, 8), torch.tensor([0, 0]), seeds=seeds)
    assert not torch.equal(both, other)


def test_constant_map() -> None:
    out = ConstantMap(gap_net(), value=2.5).attribute(torch.zeros(3, 3, 4, 5), torch.tensor([0, 1, 2]))
    assert out.shape == (3, 4, 5) and (out == 2.5).all()
