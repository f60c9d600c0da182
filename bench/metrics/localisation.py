"""Localisation metrics: how well a map's salient region matches the ground-truth mask."""

from __future__ import annotations

import torch
from torch import nn

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import flat, is_finite, normalised, rank_order, rankable, top_k_mask

_CONV = {1: nn.functional.conv1d, 2: nn.functional.conv2d, 3: nn.functional.conv3d}


def _iou(pred: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    p, m = flat(pred), flat(masks)
    inter = (p & m).sum(1).double()
    union = (p | m).sum(1).double()
    return (inter / union.clamp_min(1)).float()


def _mask_area(ctx: MetricContext) -> torch.Tensor:
    if ctx.masks is None:
        raise ValueError("this metric needs masks")
    return flat(ctx.masks).sum(1)


def _undefined_where(values: torch.Tensor, undefined: torch.Tensor) -> torch.Tensor:
    return torch.where(undefined, torch.full_like(values, float("nan")), values)


class IoUTopK(Metric):
    """IoU between the mask and the map's top-k pixels, k = mask area (area-matched)."""

    name, direction, category, requires_masks = "iou_topk", "higher", "localisation", True

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        pred = top_k_mask(ctx.maps, area, ctx.seed)
        return _undefined_where(_iou(pred, ctx.masks), (area == 0) | ~rankable(ctx.maps))


class IoUThreshold(Metric):
    """IoU between the mask and the normalised map thresholded at t (normalised value >= t)."""

    name, direction, category, requires_masks = "iou_threshold", "higher", "localisation", True

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        self.threshold = float(threshold)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        # A constant map normalises to zeros: nothing reaches a positive threshold, so its IoU is 0.
        pred = normalised(ctx.maps) >= self.threshold
        return _undefined_where(_iou(pred, ctx.masks), (area == 0) | ~is_finite(ctx.maps))


class PointingGame(Metric):
    """1 if the map's maximum (ties broken by the seeded permutation) lies in the mask dilated by tolerance pixels."""

    name, direction, category, requires_masks = "pointing_game", "higher", "localisation", True

    def __init__(self, tolerance: float = 0.0) -> None:
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        self.tolerance = float(tolerance)

    def _dilate(self, masks: torch.Tensor) -> torch.Tensor:
        if self.tolerance == 0:
            return masks
        rank = masks.ndim - 1
        reach = int(self.tolerance)
        axis = torch.arange(-reach, reach + 1, device=masks.device, dtype=torch.float32)
        grids = torch.meshgrid(*([axis] * rank), indexing="ij")
        ball = (sum(g.pow(2) for g in grids) <= self.tolerance**2).float()
        hit = _CONV[rank](masks.float().unsqueeze(1), ball[None, None], padding=reach)
        return hit.squeeze(1) > 0

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        top = rank_order(ctx.maps, ctx.seed)[:, 0]
        hit = flat(self._dilate(ctx.masks)).gather(1, top.view(-1, 1)).squeeze(1).float()
        return _undefined_where(hit, (area == 0) | ~rankable(ctx.maps))


class EnergyInMask(Metric):
    """Share of the normalised map's total mass that falls inside the mask."""

    name, direction, category, requires_masks = "energy_in_mask", "higher", "localisation", True

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        area = _mask_area(ctx)
        norm = flat(normalised(ctx.maps)).double()
        total = norm.sum(1)
        inside = (norm * flat(ctx.masks)).sum(1)
        values = (inside / total.clamp_min(1e-300)).float()
        return _undefined_where(values, (area == 0) | (total == 0) | ~is_finite(ctx.maps))
