"""Agreement measures against scipy and hand counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from bench.metrics.agreement import all_pairs, pair_agreement
from bench.metrics.maps import normalised


def test_measures_match_scipy_and_hand_counts() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 10, 10, generator=gen)
    b = a + 0.3 * torch.rand(3, 10, 10, generator=gen)
    b[0, :5] = 0.2  # ties for Spearman's average ranks
    got = pair_agreement(a, b, top_fraction=0.1)
    na, nb = normalised(a.double()).flatten(1).numpy(), normalised(b.double()).flatten(1).numpy()
    for n in range(3):
        assert got["pearson"][n].item() == pytest.approx(stats.pearsonr(na[n], nb[n])[0], rel=1e-6)
        assert got["spearman"][n].item() == pytest.approx(stats.spearmanr(na[n], nb[n])[0], rel=1e-6)
        assert got["max_abs_diff"][n].item() == pytest.approx(np.abs(na[n] - nb[n]).max())
        top_a, top_b = set(np.argsort(-na[n], kind="stable")[:10]), set(np.argsort(-nb[n], kind="stable")[:10])
        if len(set(nb[n])) == 100 and len(set(na[n])) == 100:
            assert got["top_overlap"][n].item() == pytest.approx(len(top_a & top_b) / 10)


def test_identical_and_opposite_maps() -> None:
    a = torch.rand(2, 8, 8)
    same = pair_agreement(a, a.clone())
    assert torch.allclose(same["pearson"], torch.ones(2, dtype=torch.float64)) and (same["top_overlap"] == 1).all()
    assert (same["max_abs_diff"] == 0).all()
    opposite = pair_agreement(a, -a + 2)  # relu keeps it positive; min-max flips it
    assert (opposite["pearson"] < -0.99).all() and (opposite["top_overlap"] == 0).all()


def test_all_pairs_sorted_and_complete() -> None:
    maps = {name: torch.rand(2, 4, 4) for name in ("c", "a", "b")}
    assert list(all_pairs(maps)) == [("a", "b"), ("a", "c"), ("b", "c")]
