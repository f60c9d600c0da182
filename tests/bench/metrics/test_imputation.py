"""Noisy linear imputation: against the reference implementation shipped with pytorch-grad-cam, and analytic cases."""

from __future__ import annotations

import pytest
import torch

from bench.metrics.imputation import linear_impute, neighbour_sum, noisy_linear_impute, prolong, restrict
from bench.utils.rng import counter_uniform

road = pytest.importorskip("pytorch_grad_cam.metrics.road")


def _masks(height: int, width: int) -> dict[str, torch.Tensor]:
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    blob = (yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (min(height, width) / 3) ** 2
    return {
        "scattered": counter_uniform(torch.tensor([3]), (height, width))[0] < 0.3,
        "blob": blob,
        "all_but_a_corner": ~((yy < 3) & (xx < 3)),
        "touching_the_border": xx < width / 2,
    }


@pytest.mark.parametrize("kind", ["scattered", "blob", "all_but_a_corner", "touching_the_border"])
def test_equals_the_reference_sparse_solve(kind: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 37, 50)
    missing = _masks(37, 50)[kind].unsqueeze(0)
    reference = road.NoisyLinearImputer(noise=0.0)(x[0], (~missing[0]).float())
    ours = linear_impute(x, missing)
    torch.testing.assert_close(ours[0], reference, atol=2e-5, rtol=0)
    assert torch.equal(ours[0][:, ~missing[0]], x[0][:, ~missing[0]])


def test_batch_of_different_masks_equals_one_at_a_time() -> None:
    torch.manual_seed(1)
    x = torch.randn(4, 2, 24, 24)
    missing = torch.stack(list(_masks(24, 24).values()))
    together = linear_impute(x, missing)
    for i in range(4):
        torch.testing.assert_close(together[i:i + 1], linear_impute(x[i:i + 1], missing[i:i + 1]), atol=2e-5, rtol=0)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_linear_function_is_reproduced_inside(rank: int) -> None:
    """Symmetric neighbour weights average a linear function to its centre value, so interior holes fill exactly."""
    size = {1: 40, 2: 20, 3: 12}[rank]
    axes = torch.meshgrid(*[torch.arange(size, dtype=torch.float64)] * rank, indexing="ij")
    plane = sum((k + 1.5) * a for k, a in enumerate(axes)) + 0.25
    missing = torch.zeros((size,) * rank, dtype=torch.bool)
    missing[(slice(2, size - 2),) * rank] = counter_uniform(torch.tensor([5]), (size - 4,) * rank)[0] < 0.7
    filled = linear_impute(plane.view(1, 1, *plane.shape), missing.unsqueeze(0), tolerance=1e-10)
    torch.testing.assert_close(filled[0, 0], plane, atol=1e-8, rtol=0)


def test_neighbour_weights() -> None:
    """1/6 for the four direct neighbours, 1/12 for the four diagonal ones, cut at the border."""
    impulse = torch.zeros(1, 5, 5, dtype=torch.float64)
    impulse[0, 2, 2] = 1.0
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[1:4, 1:4] = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]], dtype=torch.float64)
    torch.testing.assert_close(neighbour_sum(impulse)[0], expected)
    corner_weight = neighbour_sum(torch.ones(1, 5, 5, dtype=torch.float64))[0, 0, 0]
    assert corner_weight.item() == pytest.approx(1 / 6 + 1 / 6 + 1 / 12)


def test_restriction_is_the_transpose_of_prolongation() -> None:
    coarse, fine = torch.randn(2, 7, 5, dtype=torch.float64), torch.randn(2, 13, 9, dtype=torch.float64)
    assert (prolong(coarse, (13, 9)) * fine).sum().item() == pytest.approx((coarse * restrict(fine)).sum().item(), rel=1e-12)


def test_noise_on_imputed_pixels_only_seeded_per_sample() -> None:
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    missing = torch.stack([_masks(64, 64)["blob"], _masks(64, 64)["scattered"]])
    seeds = torch.tensor([11, 12])
    noisy = noisy_linear_impute(x, missing, seeds, noise=0.01)
    difference = noisy - linear_impute(x, missing)
    holes = missing.unsqueeze(1).expand_as(x)
    assert torch.equal(difference[~holes], torch.zeros_like(difference[~holes]))
    assert difference[holes].std().item() == pytest.approx(0.01, rel=0.05)
    assert difference[holes].mean().abs().item() < 1e-3
    torch.testing.assert_close(noisy_linear_impute(x[1:], missing[1:], seeds[1:], noise=0.01), noisy[1:], atol=2e-5, rtol=0)
    assert not torch.allclose(noisy_linear_impute(x, missing, seeds + 1, noise=0.01), noisy)


def test_bad_masks_are_refused() -> None:
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="every pixel"):
        linear_impute(x, torch.ones(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        linear_impute(x, torch.ones(4, 4, dtype=torch.bool))


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_the_demos_looser_tolerance_stays_a_tenth_below_roads_noise(fraction: float) -> None:
    # suites/demo.toml solves ROAD's imputation to 1e-4 instead of 1e-6; the difference must hide under the 0.01 noise
    torch.manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.randn(2, 3, 224, 224), 9, 1, 4) * 3
    yy, xx = torch.meshgrid(torch.arange(224.0), torch.arange(224.0), indexing="ij")
    saliency = torch.exp(-((yy - 100) ** 2 + (xx - 120) ** 2) / 2000).flatten()
    missing = (saliency.argsort(descending=True).argsort() < fraction * saliency.numel()).view(1, 224, 224).expand(2, -1, -1)
    tight, loose = linear_impute(x, missing, tolerance=1e-6), linear_impute(x, missing, tolerance=1e-4)
    assert (tight - loose).abs().max() < 1e-3
