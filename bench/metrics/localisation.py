"""Localisation metrics: how well a map's salient region matches the ground-truth mask."""

from __future__ import annotations

import torch

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import average_ranks, flat, is_finite, nan_where, normalised, otsu_mask, rank_order, rankable, top_k_mask


def _iou(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    p, m = flat(pred), flat(masks)
    inter = (p & m).sum(1).double()
    union = (p | m).sum(1).double()
    return (inter / union.clamp_min(1)).float()


def _dice(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    p, m = flat(pred), flat(masks)
    inter = (p & m).sum(1).double()
    total = (p.sum(1) + m.sum(1)).double()
    return (2 * inter / total.clamp_min(1)).float()


def _mask_area(ctx: MetricContext) -> torch.Tensor:
    if ctx.masks is None:
        raise ValueError("this metric needs masks")
    return flat(ctx.masks).sum(1)


class IoUTopK(Metric):
    """IoU between the mask and the map's top-k pixels, k = mask area (area-matched)."""

    name, direction, category, requires_masks = "iou_topk", "higher", "localisation", True
    overlap = staticmethod(_iou)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        pred = top_k_mask(ctx.maps, area, ctx.seed)
        return nan_where(self.overlap(pred, ctx.masks), (area == 0) | ~rankable(ctx.maps))


class IoUThreshold(Metric):
    """IoU between the mask and the normalised map thresholded at t (normalised value >= t)."""

    name, direction, category, requires_masks = "iou_threshold", "higher", "localisation", True
    overlap = staticmethod(_iou)

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        self.threshold = float(threshold)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        # A constant map normalises to zeros: nothing reaches a positive threshold, so its IoU is 0.
        pred = normalised(ctx.maps) >= self.threshold
        return nan_where(self.overlap(pred, ctx.masks), (area == 0) | ~is_finite(ctx.maps))


class PointingGame(Metric):
    """1 if the map's maximum (ties broken by the seeded permutation) lies in the mask dilated by tolerance pixels."""

    name, direction, category, requires_masks = "pointing_game", "higher", "localisation", True

    def __init__(self, tolerance: float = 0.0, reference_size: int = 0) -> None:
        if tolerance < 0 or reference_size < 0:
            raise ValueError(f"tolerance and reference_size must be >= 0, got {tolerance}, {reference_size}")
        self.tolerance = float(tolerance)
        self.reference_size = int(reference_size)

    def _radius(self, masks: torch.Tensor) -> float:
        # With reference_size, the tolerance is given in pixels at that input size and scales with the input.
        if not self.reference_size:
            return self.tolerance
        return self.tolerance * (sum(masks.shape[1:]) / (masks.ndim - 1)) / self.reference_size

    def _near_mask(self, masks: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        """Whether each sample's top pixel (flat index) lies within the radius of a pixel of its mask."""
        inside = flat(masks).gather(1, top.view(-1, 1)).squeeze(1)
        radius = self._radius(masks)
        if radius == 0:
            return inside
        # Squared distance from the top pixel to every pixel, O(pixels) per image: dilating the mask by a ball
        # (a convolution) would cost O(pixels x radius^rank) and answers the same question for every pixel.
        shape = masks.shape[1:]
        grid = torch.stack(torch.meshgrid(*(torch.arange(n, device=masks.device) for n in shape), indexing="ij"), -1).view(-1, len(shape))
        d2 = (grid.unsqueeze(0) - grid[top].unsqueeze(1)).pow(2).sum(-1)
        return ((d2 <= radius**2) & flat(masks)).any(1)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        top = rank_order(ctx.maps, ctx.seed)[:, 0]
        hit = self._near_mask(ctx.masks.bool(), top).float()
        return nan_where(hit, (area == 0) | ~rankable(ctx.maps))


class EnergyInMask(Metric):
    """Share of the normalised map's total mass that falls inside the mask."""

    name, direction, category, requires_masks = "energy_in_mask", "higher", "localisation", True

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        norm = flat(normalised(ctx.maps)).double()
        total = norm.sum(1)
        inside = (norm * flat(ctx.masks)).sum(1)
        values = (inside / total.clamp_min(1e-300)).float()
        return nan_where(values, (area == 0) | (total == 0) | ~is_finite(ctx.maps))


class DiceTopK(IoUTopK):
    """Dice between the mask and the map's top-k pixels, k = mask area."""

    name = "dice_topk"
    overlap = staticmethod(_dice)


class DiceThreshold(IoUThreshold):
    """Dice between the mask and the normalised map thresholded at t."""

    name = "dice_threshold"
    overlap = staticmethod(_dice)


class IoUOtsu(Metric):
    """IoU between the mask and the normalised map above its Otsu threshold."""

    name, direction, category, requires_masks = "iou_otsu", "higher", "localisation", True
    overlap = staticmethod(_iou)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        return nan_where(self.overlap(otsu_mask(ctx.maps), ctx.masks), (area == 0) | ~rankable(ctx.maps))


class DiceOtsu(IoUOtsu):
    """Dice between the mask and the normalised map above its Otsu threshold."""

    name = "dice_otsu"
    overlap = staticmethod(_dice)


def _box(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, the inclusive lower and upper corner (N, rank) of the box around a boolean mask."""
    lows, highs = [], []
    for axis in range(1, masks.ndim):
        others = tuple(a for a in range(1, masks.ndim) if a != axis)
        present = masks.any(dim=others) if others else masks
        index = torch.arange(present.shape[1], device=masks.device)
        lows.append(torch.where(present, index, present.shape[1]).amin(1))
        highs.append(torch.where(present, index, -1).amax(1))
    return torch.stack(lows, 1), torch.stack(highs, 1)


class BoxIoUTop(Metric):
    """IoU of the box around the map's top fraction q of pixels with the box around the mask."""

    name, direction, category, requires_masks = "bbox_iou_top", "higher", "localisation", True

    def __init__(self, fraction: float = 0.25) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        self.fraction = float(fraction)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        k = max(1, round(self.fraction * flat(ctx.maps).shape[1]))
        top = top_k_mask(ctx.maps, torch.full_like(area, k), ctx.seed)
        (lo_a, hi_a), (lo_b, hi_b) = _box(top), _box(ctx.masks)
        inter = (torch.minimum(hi_a, hi_b) - torch.maximum(lo_a, lo_b) + 1).clamp_min(0).double().prod(1)
        vol_a = (hi_a - lo_a + 1).double().prod(1)
        vol_b = (hi_b - lo_b + 1).clamp_min(0).double().prod(1)
        iou = inter / (vol_a + vol_b - inter).clamp_min(1)
        return nan_where(iou.float(), (area == 0) | ~rankable(ctx.maps))


class RelevanceRank(Metric):
    """Share of the mask's pixels among the map's top-|M| pixels (relevance rank accuracy)."""

    name, direction, category, requires_masks = "relevance_rank", "higher", "localisation", True

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        top = top_k_mask(ctx.maps, area, ctx.seed)
        share = (flat(top) & flat(ctx.masks)).sum(1).double() / area.clamp_min(1)
        return nan_where(share.float(), (area == 0) | ~rankable(ctx.maps))


class PixelAUROC(Metric):
    """ROC-AUC of the map's values as a per-pixel classifier of the mask (ties count half)."""

    name, direction, category, requires_masks = "pixel_auroc", "higher", "localisation", True

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        m = flat(ctx.masks)
        pos = m.sum(1).double()
        neg = m.shape[1] - pos
        ranks = average_ranks(flat(ctx.maps).double()) + 1
        auc = ((ranks * m).sum(1) - pos * (pos + 1) / 2) / (pos * neg).clamp_min(1)
        return nan_where(auc.float(), (pos == 0) | (neg == 0) | ~rankable(ctx.maps))
