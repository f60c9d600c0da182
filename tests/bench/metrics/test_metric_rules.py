"""The written rules of METRICS.md for every registered metric, by category: non-finite maps and constant maps.

Parametrized over METRICS, so a new metric is covered as soon as it is registered; a new category fails
test_every_category_is_covered until someone decides which rules apply to it.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench.metrics import METRICS, MetricContext
from tests.nets import gap_net

# randomisation_spearman re-explains a re-initialised copy of the model through explain_with and has its own tests.
CATEGORIES = {"localisation", "faithfulness", "robustness", "complexity"}
SKIPPED_CATEGORIES = {"sanity"}

# Metrics of a category with a constant-map rule that are not rank-based, with the reason their value is defined.
CONSTANT_MAP_DEFINED = {
    "average_drop": "multiplies x by the normalised map; a constant map normalises to zeros, i.e. the black image",
    "increase_in_confidence": "the same product as average_drop",
    "iou_threshold": "thresholds the normalised map; a constant map normalises to zeros and selects nothing",
    "dice_threshold": "as iou_threshold",
}

N, SIZE = 3, 16
X = torch.randn(N, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(11))
TARGET = torch.tensor([0, 2, 1])
SEEDS = torch.tensor([101, 202, 303])
MAPS = torch.rand(N, SIZE, SIZE, generator=torch.Generator().manual_seed(12))
MASKS = torch.zeros(N, SIZE, SIZE, dtype=torch.bool)
MASKS[0, 2:7, 3:9] = MASKS[1, 8:14, 8:15] = MASKS[2, 5:12, 1:6] = True
MODEL = gap_net(2)


def explain(x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
    """A deterministic stand-in explainer whose map depends on the input and the target."""
    return (x * x).sum(1) + 0.1 * target.view(-1, 1, 1)


def context(maps: torch.Tensor, index: int | None = None) -> MetricContext:
    """The batch, or only sample `index` of it (same seeds, target and mask)."""
    part = slice(None) if index is None else slice(index, index + 1)
    return MetricContext(maps=maps[part], x=X[part], target=TARGET[part], masks=MASKS[part], model=MODEL, seed=3, seeds=SEEDS[part],
                         explain=explain)


def names(categories: set[str]) -> list[str]:
    return sorted(name for name, cls in METRICS.items() if cls.category in categories)


def test_every_category_is_covered() -> None:
    assert {cls.category for cls in METRICS.values()} <= CATEGORIES | SKIPPED_CATEGORIES
    assert set(CONSTANT_MAP_DEFINED) <= set(METRICS)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", names(CATEGORIES))
def test_non_finite_map_is_undefined_and_does_not_leak_across_the_batch(name: str, bad: float) -> None:
    metric = METRICS[name]()
    maps = MAPS.clone()
    maps[1, 4, 5] = bad
    batch = metric(context(maps))
    assert batch.shape == (N,)
    assert math.isnan(batch[1].item())
    for i in (0, 2):
        alone = metric(context(maps, i))
        assert math.isfinite(alone.item()), f"{name} is undefined on a finite map"
        torch.testing.assert_close(batch[i], alone[0], msg=lambda m, i=i: f"{name}: sample {i} changed next to a non-finite map: {m}")


# (input size, one constant per sample). Besides 0: values whose float32 sums over equal-sized pixel subsets differ with the
# summation order; at 48 px faithfulness_corr sums 10 pixels per subset, at 16 px only one.
CONSTANT_CASES = ((SIZE, (0.0, 0.1, 1 / 3)), (SIZE, (0.001, 0.7, 123.456)), (3 * SIZE, (0.0, 0.1, 1 / 3)))


@pytest.mark.parametrize("name", names({"faithfulness", "localisation"}))
def test_constant_map_rule(name: str) -> None:
    metric = METRICS[name]()
    for size, values in CONSTANT_CASES:
        x = torch.nn.functional.interpolate(X, size=(size, size))
        masks = torch.nn.functional.interpolate(MASKS[:, None].float(), size=(size, size))[:, 0] > 0
        constant = torch.tensor(values).view(N, 1, 1).expand(N, size, size).contiguous()
        scores = metric(MetricContext(maps=constant, x=x, target=TARGET, masks=masks, model=MODEL, seed=3, seeds=SEEDS))
        if name in CONSTANT_MAP_DEFINED:
            assert torch.isfinite(scores).all(), f"{name}: {CONSTANT_MAP_DEFINED[name]}"
            zeros = metric(MetricContext(maps=torch.zeros(N, size, size), x=x, target=TARGET, masks=masks, model=MODEL, seed=3, seeds=SEEDS))
            torch.testing.assert_close(scores, zeros)  # a constant map is the all-zero map once normalised
        else:
            assert torch.isnan(scores).all(), f"{name} scores a constant map {values}: {scores.tolist()}"
