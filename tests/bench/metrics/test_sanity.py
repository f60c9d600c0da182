"""Cascading weight randomisation: which blocks change, and what the Spearman correlation says."""

from __future__ import annotations

import pytest
import torch

from bench.core import registry
from bench.core.explainer import canonicalize
from bench.metrics import MetricContext
from bench.metrics.sanity import RandomisationSpearman, RandomisationSSIM, randomised_copy, ssim, weight_blocks
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


@pytest.mark.parametrize("shape", [(24, 30), (16, 16)])
def test_ssim_matches_scikit_image(shape: tuple[int, int]) -> None:
    """Wang et al.'s Gaussian-window SSIM, as scikit-image computes it with the paper's settings."""
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(4)
    a = torch.rand(3, *shape, generator=g, dtype=torch.float64)
    b = (0.6 * a + 0.4 * torch.rand(3, *shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    got = ssim(a, b)
    for n in range(3):
        expected = metrics.structural_similarity(a[n].numpy(), b[n].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
                                                 use_sample_covariance=False)
        assert got[n].item() == pytest.approx(expected, abs=1e-10)
    torch.testing.assert_close(ssim(a, a), torch.ones(3, dtype=torch.float64))


def test_ssim_refuses_maps_smaller_than_its_window() -> None:
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.rand(1, 7, 7), torch.rand(1, 7, 7))


def test_randomisation_ssim_on_absolute_unit_range_maps() -> None:
    """A model-independent map keeps SSIM 1; the value equals SSIM of the |map|s scaled to [0, 1] by hand."""
    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    target = torch.tensor([0, 1, 2])
    torch.testing.assert_close(RandomisationSSIM()(context("baseline.centre", model, x, target)), torch.ones(3))
    factory = explain_with("inhouse.gradient_x_input")
    ctx = MetricContext(maps=factory(model)(x, target), x=x, target=target, model=model, seeds=torch.arange(3), explain_with=factory)
    other = factory(randomised_copy(model, 2, seed=0))(x, target)

    def unit(m: torch.Tensor) -> torch.Tensor:
        m = m.abs().double()
        low, high = m.amin((1, 2), keepdim=True), m.amax((1, 2), keepdim=True)
        return (m - low) / (high - low)

    torch.testing.assert_close(RandomisationSSIM(blocks=2)(ctx), ssim(unit(ctx.maps), unit(other)).float())
    assert (RandomisationSSIM(blocks=2)(ctx) < 0.95).all()
