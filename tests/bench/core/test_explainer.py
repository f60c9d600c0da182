"""canonicalize: channel reduction, interpolation mode per rank, values never rescaled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.core.explainer import canonicalize


def test_identity_when_already_canonical() -> None:
    raw = torch.randn(2, 5, 6, dtype=torch.float64)
    out = canonicalize(raw, spatial=(5, 6))
    assert out.dtype == torch.float32 and torch.equal(out, raw.float())


@pytest.mark.parametrize("rank,mode", [(1, "linear"), (2, "bilinear"), (3, "trilinear")])
def test_upsampling_mode_per_rank(rank: int, mode: str) -> None:
    raw = torch.rand(2, *([3] * rank))
    out = canonicalize(raw, spatial=tuple([12] * rank))
    expected = nn.functional.interpolate(raw[:, None], size=tuple([12] * rank), mode=mode, align_corners=False)[:, 0]
    torch.testing.assert_close(out, expected)
    nearest = nn.functional.interpolate(raw[:, None], size=tuple([12] * rank), mode="nearest")[:, 0]
    assert not torch.allclose(out, nearest)


def test_values_not_rescaled() -> None:
    raw = torch.full((1, 2, 2), -7.0)
    assert torch.equal(canonicalize(raw, spatial=(4, 4)), torch.full((1, 4, 4), -7.0))


def test_channel_reductions_and_numpy_input() -> None:
    raw = np.arange(2 * 3 * 4 * 4, dtype=np.float64).reshape(2, 3, 4, 4) - 40
    t = torch.from_numpy(raw).float()
    torch.testing.assert_close(canonicalize(raw, spatial=(4, 4), channel_reduction="sum"), t.sum(1))
    torch.testing.assert_close(canonicalize(raw, spatial=(4, 4), channel_reduction="mean"), t.mean(1))
    torch.testing.assert_close(canonicalize(raw, spatial=(4, 4), channel_reduction="abs_sum"), t.abs().sum(1))


def test_wrong_rank_is_an_error() -> None:
    with pytest.raises(ValueError, match="spatial dims"):
        canonicalize(torch.rand(2, 4, 4, 4), spatial=(4, 4))
    with pytest.raises(ValueError, match="unknown channel reduction"):
        canonicalize(torch.rand(2, 3, 4, 4), spatial=(4, 4), channel_reduction="max")
