"""The written rules on maps: normalisation, constant and non-finite maps, seeded tie-breaking."""

from __future__ import annotations

import torch


def flat(maps: torch.Tensor) -> torch.Tensor:
    """Maps (N,*S) as (N,P)."""
    return maps.reshape(maps.shape[0], -1)


def is_constant(maps: torch.Tensor) -> torch.Tensor:
    """(N,) True where a map has a single value everywhere."""
    f = flat(maps)
    return f.amax(1) == f.amin(1)


def is_finite(maps: torch.Tensor) -> torch.Tensor:
    """(N,) True where every value of a map is finite."""
    return torch.isfinite(flat(maps)).all(1)


def rankable(maps: torch.Tensor) -> torch.Tensor:
    """(N,) True where a map can be ranked: finite and not constant."""
    return is_finite(maps) & ~is_constant(maps)


def normalised(maps: torch.Tensor) -> torch.Tensor:
    """relu then per-image min-max to [0,1]; a map that is constant after relu becomes all zeros."""
    f = torch.relu(flat(maps))
    low, high = f.amin(1, keepdim=True), f.amax(1, keepdim=True)
    span = high - low
    out = torch.where(span > 0, (f - low) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(f))
    return out.view_as(maps)


def rank_order(maps: torch.Tensor, seed: int) -> torch.Tensor:
    """(N,P) pixel indices from most to least salient; ties broken by a permutation seeded by seed."""
    f = flat(maps)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    perm = torch.randperm(f.shape[1], generator=gen).to(f.device)
    order = torch.argsort(f[:, perm], dim=1, descending=True, stable=True)
    return perm[order]


def top_k_mask(maps: torch.Tensor, k: torch.Tensor, seed: int) -> torch.Tensor:
    """Boolean (N,*S) of each map's k[n] most salient pixels, ties broken by the seeded permutation."""
    order = rank_order(maps, seed)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return (ranks < k.view(-1, 1)).view_as(maps)


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Per-row ranks 0..P-1 (float64), tied values sharing their average rank."""
    order = values.argsort(dim=1, stable=True)
    sorted_values = values.gather(1, order)
    positions = torch.arange(values.shape[1], device=values.device, dtype=torch.float64).expand_as(sorted_values).contiguous()
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    group = new_group.cumsum(1) - 1
    sums = torch.zeros_like(positions).scatter_add_(1, group, positions)
    counts = torch.zeros_like(positions).scatter_add_(1, group, torch.ones_like(positions))
    mean_rank = (sums / counts.clamp_min(1)).gather(1, group)
    return torch.empty_like(mean_rank).scatter_(1, order, mean_rank)


def otsu_mask(maps: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Boolean (N,*S): pixels of the normalised map above each image's Otsu threshold (histogram of `bins` levels)."""
    f = flat(normalised(maps))
    # A map with +inf normalises to NaN there; such maps are undefined for the callers, but their levels must stay valid indices.
    level = (f * (bins - 1)).nan_to_num(0.0).clamp(0, bins - 1).round().long()
    hist = torch.zeros(f.shape[0], bins, device=f.device, dtype=torch.float64).scatter_add_(1, level, torch.ones_like(f, dtype=torch.float64))
    grey = torch.arange(bins, device=f.device, dtype=torch.float64)
    weight0 = hist.cumsum(1)
    weight1 = hist.sum(1, keepdim=True) - weight0
    mass0 = (hist * grey).cumsum(1)
    mean0 = mass0 / weight0.clamp_min(1)
    mean1 = ((hist * grey).sum(1, keepdim=True) - mass0) / weight1.clamp_min(1)
    between = weight0 * weight1 * (mean0 - mean1).pow(2)
    threshold = between.argmax(1, keepdim=True)
    return (level > threshold).view_as(maps)


def row_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of a with the same row of b; NaN where either row is constant."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denominator = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(denominator > 0, (a * b).sum(1) / denominator.clamp_min(1e-300), torch.full_like(denominator, float("nan")))


def nan_where(values: torch.Tensor, undefined: torch.Tensor) -> torch.Tensor:
    """values as float32 scores, NaN where undefined (the written rule for maps or masks a metric cannot score)."""
    return torch.where(undefined, torch.full_like(values, float("nan")), values).float()
