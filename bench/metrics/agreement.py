"""How much implementations of one method agree on the same model, layer, inputs and targets."""

from __future__ import annotations

import itertools

import torch

from bench.metrics.maps import average_ranks, flat, normalised, rank_order, row_pearson

MEASURES = ("pearson", "spearman", "top_overlap", "max_abs_diff")


def pair_agreement(a: torch.Tensor, b: torch.Tensor, *, top_fraction: float = 0.1, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per-sample agreement of two batches of canonical maps after the common normalisation (relu, min-max)."""
    na, nb = flat(normalised(a)).double(), flat(normalised(b)).double()
    k = max(1, round(top_fraction * na.shape[1]))
    top_a = rank_order(a, seed)[:, :k]
    top_b = rank_order(b, seed)[:, :k]
    hits = torch.zeros_like(na, dtype=torch.bool).scatter_(1, top_a, True).gather(1, top_b)
    return {
        "pearson": row_pearson(na, nb),
        "spearman": row_pearson(average_ranks(na), average_ranks(nb)),
        "top_overlap": hits.double().mean(1),
        "max_abs_diff": (na - nb).abs().amax(1),
    }


def all_pairs(maps: dict[str, torch.Tensor], *, top_fraction: float = 0.1, seed: int = 0) -> dict[tuple[str, str], dict[str, torch.Tensor]]:
    """pair_agreement for every unordered pair of implementations (names sorted)."""
    return {(x, y): pair_agreement(maps[x], maps[y], top_fraction=top_fraction, seed=seed) for x, y in itertools.combinations(sorted(maps), 2)}
