"""ROAD: pytorch-grad-cam's ROAD with its percentile convention translated, its pinned deviations, the written rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.metrics import METRICS, MetricContext
from bench.metrics.road import DEFAULT_FRACTIONS, RoadLeRF, RoadMoRF
from bench.utils.rng import counter_uniform
from tests.nets import gap_net

road = pytest.importorskip("pytorch_grad_cam.metrics.road")
confidence = pytest.importorskip("pytorch_grad_cam.metrics.perturbation_confidence")
targets_module = pytest.importorskip("pytorch_grad_cam.utils.model_targets")

# 20 x 20 = 400 pixels: np.percentile(p) then falls strictly between two values, so pytorch-grad-cam keeps
# exactly p% of the pixels and the comparison is not at the mercy of its interpolation.
SIZE = 20


def _batch(n: int = 3) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = gap_net(2, channels=3, classes=3)
    x = torch.randn(n, 3, SIZE, SIZE)
    maps = counter_uniform(torch.arange(n) + 40, (SIZE, SIZE))  # distinct values: no ties
    target = torch.tensor([0, 2, 1])[:n]
    return model, x, maps, target


def _ctx(model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: torch.Tensor) -> MetricContext:
    return MetricContext(maps=maps, x=x, target=target, model=model, seed=0, seeds=torch.arange(x.shape[0]) + 100)


def _pgc_scores(perturbation, model: nn.Module, x: torch.Tensor, maps: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    targets = [targets_module.ClassifierOutputSoftmaxTarget(int(c)) for c in target]
    metric = confidence.PerturbationConfidenceMetric(perturbation)
    return metric(x, maps.numpy(), targets, model, return_diff=False)


def _noiseless(percentile: float, most_relevant_first: bool):
    remove = confidence.RemoveMostRelevantFirst if most_relevant_first else confidence.RemoveLeastRelevantFirst
    return remove(percentile, road.NoisyLinearImputer(noise=0.0))


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.8, 0.9])
def test_morf_level_equals_pgc_at_percentile_100_minus_q(fraction: float) -> None:
    """pytorch-grad-cam's ROADMostRelevantFirst(percentile=p) keeps the lowest p% and removes the top 100 - p%."""
    model, x, maps, target = _batch()
    ours = RoadMoRF(fractions=[fraction], noise=0.0).curve(_ctx(model, x, maps, target))[:, 0]
    theirs = _pgc_scores(_noiseless(round(100 * (1 - fraction)), True), model, x, maps, target)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=2e-5)


@pytest.mark.parametrize("fraction", [0.2, 0.6, 0.9])
def test_lerf_level_equals_pgc_at_percentile_100_minus_q(fraction: float) -> None:
    model, x, maps, target = _batch()
    ours = RoadLeRF(fractions=[fraction], noise=0.0).curve(_ctx(model, x, maps, target))[:, 0]
    theirs = _pgc_scores(_noiseless(round(100 * (1 - fraction)), False), model, x, maps, target)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=2e-5)


def test_pgc_percentile_is_the_share_kept_not_removed() -> None:
    """Pinned: the same number read as "remove p%" (the paper's MoRF level) gives another score."""
    model, x, maps, target = _batch()
    removed_20 = RoadMoRF(fractions=[0.2], noise=0.0).curve(_ctx(model, x, maps, target))[:, 0].numpy()
    pgc_20 = _pgc_scores(_noiseless(20, True), model, x, maps, target)
    pgc_80 = _pgc_scores(_noiseless(80, True), model, x, maps, target)
    np.testing.assert_allclose(removed_20, pgc_80, atol=2e-5)
    assert np.abs(removed_20 - pgc_20).max() > 1e-3


def test_averages_equal_pgc_over_the_same_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the symmetric default levels 10..90% the two conventions cover the same removals, so the means agree."""
    # pytorch-grad-cam draws its imputation noise from the global RNG; turn it off to compare the means exactly.
    monkeypatch.setattr(road.NoisyLinearImputer.__init__, "__defaults__", (0.0, road.neighbors_weights))
    model, x, maps, target = _batch()
    targets = [targets_module.ClassifierOutputSoftmaxTarget(int(c)) for c in target]
    ctx = _ctx(model, x, maps, target)
    for ours_cls, theirs_cls in ((RoadMoRF, road.ROADMostRelevantFirstAverage), (RoadLeRF, road.ROADLeastRelevantFirstAverage)):
        ours = ours_cls(noise=0.0)(ctx).numpy()
        base = torch.softmax(model(x), 1).gather(1, target.view(-1, 1)).squeeze(1).detach().numpy()
        theirs = theirs_cls()(x, maps.numpy(), targets, model) + base  # it returns score differences
        np.testing.assert_allclose(ours, theirs, atol=5e-5)


def test_pgc_otsu_branch_removes_the_least_relevant_pixels() -> None:
    """Pinned: RemoveMostRelevantFirst('auto') imputes the pixels below Otsu's threshold, i.e. the least relevant."""
    _, x, maps, _ = _batch(1)
    imputed = _noiseless("auto", True)(x[0], maps[0])
    changed = (imputed != x[0]).any(0)
    assert 0 < changed.sum() < changed.numel()
    assert maps[0][changed].max() < maps[0][~changed].min()


def test_noise_enters_only_through_the_per_sample_seed() -> None:
    model, x, maps, target = _batch()
    metric = RoadMoRF()
    together = metric(_ctx(model, x, maps, target))
    alone = metric(MetricContext(maps=maps[1:2], x=x[1:2], target=target[1:2], model=model, seed=0, seeds=torch.tensor([101])))
    torch.testing.assert_close(alone, together[1:2], atol=1e-5, rtol=0)
    noiseless = RoadMoRF(noise=0.0)(_ctx(model, x, maps, target))
    assert not torch.equal(together, noiseless)
    assert (together - noiseless).abs().max() < 0.05


@pytest.mark.parametrize("name", ["road_morf", "road_lerf"])
def test_constant_and_nan_maps_are_undefined_without_touching_the_others(name: str) -> None:
    model, x, maps, target = _batch()
    broken = maps.clone()
    broken[0] = 0.5
    broken[2, 3, 4] = float("nan")
    metric = METRICS[name]()
    values = metric(_ctx(model, x, broken, target))
    assert torch.isnan(values[0]) and torch.isnan(values[2]) and torch.isfinite(values[1])
    torch.testing.assert_close(values[1], metric(_ctx(model, x, maps, target))[1])


class BrightSpot(nn.Module):
    """Class 1's logit is the mean brightness of a fixed square, minus the mean elsewhere; class 0's logit is 0."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.region = torch.zeros(size, size, dtype=torch.bool)
        self.region[6:12, 8:14] = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = x[:, :, self.region].mean((1, 2))
        outside = x[:, :, ~self.region].mean((1, 2))
        return torch.stack([torch.zeros_like(inside), 4 * (inside - outside)], 1)


def test_oracle_map_beats_a_random_map() -> None:
    """Removing the evidence first drops the class faster (MoRF lower), keeping it longest holds it (LeRF higher)."""
    model = BrightSpot(SIZE)
    n = 6
    x = 0.1 * torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    x[:, :, model.region] += 1.0
    target = torch.ones(n, dtype=torch.long)
    oracle = model.region.float().expand(n, SIZE, SIZE) + 0.01 * counter_uniform(torch.arange(n), (SIZE, SIZE))
    random = counter_uniform(torch.arange(n) + 500, (SIZE, SIZE))
    for metric in (RoadMoRF(), RoadLeRF()):
        good, bad = metric(_ctx(model, x, oracle, target)).mean(), metric(_ctx(model, x, random, target)).mean()
        assert (good < bad) if metric.direction == "lower" else (good > bad), (metric.name, good, bad)


def test_one_dimensional_inputs() -> None:
    torch.manual_seed(0)
    model = gap_net(1, channels=1, classes=2)
    x, maps = torch.randn(2, 1, 40), counter_uniform(torch.tensor([1, 2]), (40,))
    values = RoadMoRF()(MetricContext(maps=maps, x=x, target=torch.tensor([0, 1]), model=model, seed=0))
    assert values.shape == (2,) and torch.isfinite(values).all()


def test_parameters_are_checked_and_explicit() -> None:
    assert RoadMoRF().params()["fractions"] == list(DEFAULT_FRACTIONS)
    with pytest.raises(ValueError, match="fractions"):
        RoadMoRF(fractions=[0.0, 0.5])
    with pytest.raises(ValueError, match="noise"):
        RoadLeRF(noise=-1.0)
