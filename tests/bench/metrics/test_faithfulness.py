"""Faithfulness metrics on a model whose outputs are computable by hand, and on a trained model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.metrics import MetricContext
from bench.metrics.faithfulness import (
    AverageDrop,
    AverageDropTop50,
    DeletionAUC,
    DropRate,
    FaithfulnessCorrelation,
    IncreaseInConfidence,
    IncreaseRate,
    InsertionAUC,
    RemoveTopDrop,
)

W = torch.tensor([[3.0, -1.0, 2.0, 0.5], [1.0, 0.0, -2.0, 1.5], [0.5, 0.5, 0.5, 0.5], [-1.0, 2.0, 1.0, 0.0]])


class LinearLogit(nn.Module):
    """Two classes: logit_0 = sum(W * x) over a 1x4x4 input, logit_1 = 0, so p_0 = sigmoid(sum(W * x))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x[:, 0] * W).flatten(1).sum(1)
        return torch.stack([z, torch.zeros_like(z)], 1)


def p0(x: torch.Tensor) -> float:
    return 1 / (1 + math.exp(-float((x * W).sum())))


X = torch.tensor([[0.2, 0.1, 0.3, 0.4], [0.5, 0.0, 0.1, 0.2], [0.3, 0.3, 0.2, 0.1], [0.0, 0.4, 0.6, 0.2]])
MAP = torch.arange(16, dtype=torch.float32).view(4, 4).flip(0).flip(1).contiguous()  # 15 at (0,0) ... 0 at (3,3): all distinct


def ctx(maps: torch.Tensor = MAP) -> MetricContext:
    return MetricContext(maps=maps.view(1, 4, 4), x=X.view(1, 1, 4, 4), target=torch.tensor([0]), model=LinearLogit(), seed=0,
                         seeds=torch.tensor([7]), pixel_mean=(0.0,), pixel_std=(1.0,))


def test_average_drop_and_increase_by_hand() -> None:
    norm = MAP / 15  # relu + min-max of 0..15
    expected = 100 * max(0.0, p0(X) - p0(X * norm)) / p0(X)
    assert AverageDrop()(ctx()).item() == pytest.approx(expected, rel=1e-5)
    assert IncreaseInConfidence()(ctx()).item() == (100.0 if p0(X * norm) > p0(X) else 0.0)
    top = norm * (MAP >= 8)  # the top 50% of 16 pixels are the values 8..15
    assert AverageDropTop50()(ctx()).item() == pytest.approx(100 * max(0.0, p0(X) - p0(X * top)) / p0(X), rel=1e-5)


def test_pixel_space_multiplication() -> None:
    c = ctx()
    c.pixel_mean, c.pixel_std = (0.5,), (2.0,)
    norm = MAP / 15
    pixels = X * 2.0 + 0.5
    masked = (pixels * norm - 0.5) / 2.0
    assert AverageDrop()(c).item() == pytest.approx(100 * max(0.0, p0(X) - p0(masked)) / p0(X), rel=1e-5)


def test_remove_top_and_keep_top() -> None:
    top4 = MAP >= 12
    removed = X * ~top4
    assert RemoveTopDrop(fraction=0.25)(ctx()).item() == pytest.approx((p0(X) - p0(removed)) / p0(X), rel=1e-5)
    keep = MAP >= 4  # keep the top 75% (12 pixels), zero the rest
    kept = X * keep
    assert DropRate(fraction=0.75)(ctx()).item() == pytest.approx(max(0.0, p0(X) - p0(kept)) / p0(X), rel=1e-5, abs=1e-7)
    assert IncreaseRate(fraction=0.75)(ctx()).item() == (1.0 if p0(kept) > p0(X) else 0.0)


def test_deletion_and_insertion_curves_by_hand() -> None:
    order = sorted(range(16), key=lambda i: -float(MAP.flatten()[i]))
    deleted, values = X.clone().flatten(), [p0(X)]
    for i in order:
        deleted[i] = 0.0
        values.append(p0(deleted.view(4, 4)))
    auc = sum((a + b) / 2 for a, b in zip(values[1:], values[:-1])) / 16
    assert DeletionAUC(steps=16)(ctx()).item() == pytest.approx(auc, rel=1e-5)
    mean_image = torch.full((4, 4), float(X.mean()))
    inserted, values = mean_image.clone().flatten(), [p0(mean_image)]
    for i in order:
        inserted[i] = X.flatten()[i]
        values.append(p0(inserted.view(4, 4)))
    auc = sum((a + b) / 2 for a, b in zip(values[1:], values[:-1])) / 16
    assert InsertionAUC(steps=16, baseline="mean")(ctx()).item() == pytest.approx(auc, rel=1e-5)


def test_faithfulness_correlation_is_one_for_the_exact_linear_attribution() -> None:
    exact = (W * X).view(1, 4, 4)  # on the logit, setting a subset to zero removes exactly its sum of w * x
    metric = FaithfulnessCorrelation(subsets=30, subset_pixels=4, reference_pixels=16, output="logit")
    assert metric(ctx(exact)).item() == pytest.approx(1.0, abs=1e-6)
    assert metric(ctx(-exact)).item() == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.parametrize("metric", [AverageDropTop50(), RemoveTopDrop(), DropRate(), IncreaseRate(), DeletionAUC(steps=4), InsertionAUC(steps=4)])
def test_constant_maps_are_undefined_for_rank_based_metrics(metric) -> None:
    assert math.isnan(metric(ctx(torch.full((4, 4), 3.0))).item())


def test_saliency_beats_random_on_deletion_and_insertion_of_a_trained_model() -> None:
    from adapters.inhouse.input_gradients import Saliency
    from tests.adapters.inhouse.test_input_methods import trained_cnn

    model = trained_cnn()
    x = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    target = model(x).argmax(1)
    saliency = Saliency(model, abs=False).attribute(x, target).sum(1)
    informed = (saliency * x[:, 0]).detach()  # gradient x input: positive where the pixel supports the class
    random = torch.rand(8, 12, 12, generator=torch.Generator().manual_seed(6))

    def score(metric, maps):
        return metric(MetricContext(maps=maps, x=x, target=target, model=model, seed=0, pixel_mean=(0.0,), pixel_std=(1.0,))).mean()

    assert score(DeletionAUC(steps=24), informed) < score(DeletionAUC(steps=24), random)
    assert score(InsertionAUC(steps=24, baseline="zero"), informed) > score(InsertionAUC(steps=24, baseline="zero"), random)



def _spot_images(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Dim noise; half the images (label 1) carry a bright 4x4 square at a random place."""
    x = 0.3 * torch.rand(n, 1, 16, 16, generator=gen)
    y = torch.arange(n) % 2
    corners = torch.randint(0, 12, (n, 2), generator=gen)
    for i in torch.nonzero(y).flatten().tolist():
        r, c = corners[i].tolist()
        x[i, 0, r:r + 4, c:c + 4] += 0.7
    return x, y


def spot_cnn() -> nn.Sequential:
    """conv-relu-conv-relu-GAP-linear (the CAM architecture) trained to tell whether a bright square is present."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        x, y = _spot_images(32, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    x, y = _spot_images(200, gen)
    assert (model(x).argmax(1) == y).float().mean() > 0.9  # chance is 0.5
    return model.eval()


def test_gradcam_beats_random_on_deletion_and_insertion_of_a_trained_model() -> None:
    """The issue's monotonicity check with Grad-CAM itself (last conv block, upsampled as the harness does)."""
    from adapters.inhouse.gradient_cams import GradCAM
    from bench.core.explainer import canonicalize

    model = spot_cnn()
    x, _ = _spot_images(16, torch.Generator().manual_seed(7))
    x, target = x[1::2], torch.ones(8, dtype=torch.long)  # the images with a square, explained for "square"
    explainer = GradCAM(model, target_layer="3")
    maps = canonicalize(explainer.attribute(x, target), spatial=(16, 16), channel_reduction=explainer.channel_reduction)
    random = torch.rand(8, 16, 16, generator=torch.Generator().manual_seed(8))

    def score(metric, m):
        return metric(MetricContext(maps=m, x=x, target=target, model=model, seed=0, pixel_mean=(0.0,), pixel_std=(1.0,))).mean()

    assert score(DeletionAUC(steps=32), maps) < score(DeletionAUC(steps=32), random)
    assert score(InsertionAUC(steps=32), maps) > score(InsertionAUC(steps=32), random)
