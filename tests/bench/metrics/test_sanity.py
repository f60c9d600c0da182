"""Cascading weight randomisation: which blocks change, and what the Spearman correlation says."""

from __future__ import annotations

import pytest
import torch

from bench import registry
from bench.explainer import canonicalize
from bench.metrics import MetricContext
from bench.metrics.sanity import RandomisationSpearman, randomised_copy, weight_blocks
from tests.nets import gap_net


def explain_with(name: str, **params):
    def factory(model):
        explainer = registry.get(name)(model, target_layer="3", **params)
        return lambda x, t, s=None: canonicalize(explainer.attribute(x, t, seeds=s), spatial=tuple(x.shape[2:]),
                                                 channel_reduction=explainer.channel_reduction)
    return factory


def context(name: str, model, x, target) -> MetricContext:
    factory = explain_with(name)
    return MetricContext(maps=factory(model)(x, target), x=x, target=target, model=model, seeds=torch.arange(len(x)), explain_with=factory)


def test_cascade_reinitialises_only_the_top_blocks() -> None:
    model = gap_net(2)
    assert weight_blocks(model) == ["0", "2", "6"]
    top_one = randomised_copy(model, 1, seed=0)
    assert not torch.equal(top_one[6].weight, model[6].weight)
    assert torch.equal(top_one[2].weight, model[2].weight) and torch.equal(top_one[0].weight, model[0].weight)
    every = randomised_copy(model, 0, seed=0)
    assert all(not torch.equal(getattr(every[i], "weight"), getattr(model[i], "weight")) for i in (0, 2, 6))
    assert torch.equal(randomised_copy(model, 2, seed=3)[2].weight, randomised_copy(model, 2, seed=3)[2].weight)


def test_a_model_independent_map_fails_the_sanity_check() -> None:
    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16)
    target = torch.tensor([0, 1, 2])
    ctx = context("baseline.centre", model, x, target)
    torch.testing.assert_close(RandomisationSpearman()(ctx), torch.ones(3))


def test_gradient_maps_decorrelate_and_the_model_is_untouched() -> None:
    model = gap_net(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 0])
    ctx = context("inhouse.gradient_x_input", model, x, target)
    rho = RandomisationSpearman()(ctx)
    assert (rho < 0.9).all()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_spearman_matches_scipy() -> None:
    from scipy import stats

    model = gap_net(2)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([1, 0])
    factory = explain_with("inhouse.saliency")
    maps = factory(model)(x, target)
    ctx = MetricContext(maps=maps, x=x, target=target, model=model, seeds=torch.arange(2), explain_with=factory)
    other = factory(randomised_copy(model, 1, seed=0))(x, target)
    got = RandomisationSpearman(blocks=1)(ctx)
    for n in range(2):
        assert got[n].item() == pytest.approx(stats.spearmanr(maps[n].flatten().numpy(), other[n].flatten().numpy())[0], rel=1e-5)
