"""Complexity of a map: how concentrated its attribution mass is."""

from __future__ import annotations

import torch

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import flat, is_finite, nan_where


class Sparseness(Metric):
    """Gini index of |A| (Chalasani et al. 2020): 1 for a single pixel, 0 for a uniform map."""

    name, direction, category = "sparseness", "higher", "complexity"

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        v = flat(ctx.maps).abs().double().sort(1).values
        n = v.shape[1]
        i = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
        total = v.sum(1)
        gini = ((2 * i - n - 1) * v).sum(1) / (n * total.clamp_min(1e-300))
        return nan_where(gini, ~(total > 0) | ~is_finite(ctx.maps))


class Complexity(Metric):
    """Entropy of |A| / sum |A| (Bhatt et al. 2020): low for concentrated maps."""

    name, direction, category = "complexity", "lower", "complexity"

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        v = flat(ctx.maps).abs().double()
        total = v.sum(1, keepdim=True)
        p = v / total.clamp_min(1e-300)
        entropy = -(torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p))).sum(1)
        return nan_where(entropy, ~(total[:, 0] > 0) | ~is_finite(ctx.maps))
