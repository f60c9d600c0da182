"""Otsu, Dice, box IoU, relevance rank and pixel AUROC against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from bench.metrics import MetricContext
from bench.metrics.localisation import BoxIoUTop, DiceOtsu, DiceThreshold, DiceTopK, IoUOtsu, PixelAUROC, PointingGame, RelevanceRank
from bench.metrics.maps import normalised, otsu_mask


def ctx(maps, masks, seed: int = 0) -> MetricContext:
    maps, masks = torch.as_tensor(maps, dtype=torch.float32), torch.as_tensor(masks, dtype=torch.bool)
    return MetricContext(maps=maps, x=torch.zeros(maps.shape[0], 3, *maps.shape[1:]), target=torch.zeros(maps.shape[0], dtype=torch.long),
                         masks=masks, seed=seed)


def otsu_brute_force(values: np.ndarray) -> int:
    """Exhaustive search of the 8-bit level maximising the between-class variance."""
    levels = np.round(values * 255).astype(int)
    best, best_t = -1.0, 0
    for t in range(256):
        low, high = levels[levels <= t], levels[levels > t]
        if len(low) == 0 or len(high) == 0:
            continue
        var = len(low) * len(high) * (low.mean() - high.mean()) ** 2
        if var > best:
            best, best_t = var, t
    return best_t


def test_otsu_threshold_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    maps = torch.cat([torch.rand(2, 100, generator=gen) * 0.3, 0.6 + torch.rand(2, 60, generator=gen) * 0.4], 1).view(2, 16, 10)
    got = otsu_mask(maps)
    for n in range(2):
        values = normalised(maps)[n].flatten().numpy()
        expected = np.round(values * 255).astype(int) > otsu_brute_force(values)
        assert np.array_equal(got[n].flatten().numpy(), expected)


def test_dice_is_twice_iou_over_one_plus_iou() -> None:
    gen = torch.Generator().manual_seed(1)
    maps = torch.rand(4, 12, 12, generator=gen)
    masks = torch.rand(4, 12, 12, generator=gen) > 0.6
    from bench.metrics.localisation import IoUThreshold, IoUTopK

    for dice, iou in ((DiceTopK(), IoUTopK()), (DiceThreshold(0.5), IoUThreshold(0.5)), (DiceOtsu(), IoUOtsu())):
        d, i = dice(ctx(maps, masks)), iou(ctx(maps, masks))
        torch.testing.assert_close(d, 2 * i / (1 + i))


def test_box_iou_by_hand() -> None:
    maps = torch.zeros(1, 8, 8)
    maps[0, 1:3, 1:5] = torch.arange(1, 9, dtype=torch.float32).view(2, 4)  # the top 8 pixels (q = 8/64) fill rows 1-2, cols 1-4
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2:6, 3:5] = True  # box rows 2-5, cols 3-4
    # intersection rows 2-2, cols 3-4 = 2 pixels; boxes 8 and 8 pixels: IoU = 2 / 14
    assert BoxIoUTop(fraction=8 / 64)(ctx(maps, mask)).item() == pytest.approx(2 / 14)


def test_relevance_rank_by_hand() -> None:
    maps = torch.tensor([[[9.0, 8.0, 1.0], [7.0, 2.0, 3.0]]])
    mask = torch.tensor([[[True, False, False], [False, True, True]]])  # top-3: 9, 8, 7 -> only 9 is in the mask
    assert RelevanceRank()(ctx(maps, mask)).item() == pytest.approx(1 / 3)


def test_pixel_auroc_matches_sklearn_with_ties() -> None:
    gen = torch.Generator().manual_seed(2)
    maps = (torch.rand(3, 10, 10, generator=gen) * 4).round()
    masks = torch.rand(3, 10, 10, generator=gen) > 0.7
    got = PixelAUROC()(ctx(maps, masks))
    for n in range(3):
        assert got[n].item() == pytest.approx(roc_auc_score(masks[n].flatten().numpy(), maps[n].flatten().numpy()), rel=1e-6)


def test_pointing_tolerance_scales_with_the_input() -> None:
    maps = torch.zeros(1, 112, 112)
    maps[0, 0, 20] = 1.0
    mask = torch.zeros(1, 112, 112, dtype=torch.bool)
    mask[0, 0, :13] = True  # the maximum is 8 pixels from the mask (column 20 vs 12)
    assert PointingGame(tolerance=15, reference_size=224)(ctx(maps, mask)).item() == 0.0  # 7.5 px at 112 px: a miss
    assert PointingGame(tolerance=15, reference_size=224)(ctx(maps, mask)).item() == PointingGame(tolerance=7.5)(ctx(maps, mask)).item()
    assert PointingGame(tolerance=16, reference_size=224)(ctx(maps, mask)).item() == 1.0


@pytest.mark.parametrize("metric", [IoUOtsu(), DiceOtsu(), DiceTopK(), BoxIoUTop(), RelevanceRank(), PixelAUROC()])
def test_rules_constant_and_empty(metric) -> None:
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :2] = True
    assert math.isnan(metric(ctx(torch.full((1, 4, 4), 2.0), mask)).item())
    assert math.isnan(metric(ctx(torch.rand(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))).item())
