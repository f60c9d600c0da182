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
