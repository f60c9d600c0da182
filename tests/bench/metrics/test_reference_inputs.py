"""Reference inputs: the baselines that replace pixels."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.metrics.reference_inputs import gaussian_blur, reference_input
from bench.models.resnet import MEAN, STD


def test_blur_matches_a_full_2d_gaussian_in_the_interior() -> None:
    x = torch.randn(1, 2, 30, 30, dtype=torch.float64)
    taps = torch.tensor([math.exp(-(i - 5) ** 2 / 50) for i in range(11)], dtype=torch.float64)
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    full = nn.functional.conv2d(x, kernel.expand(2, 1, 11, 11), groups=2)
    torch.testing.assert_close(gaussian_blur(x)[:, :, 5:-5, 5:-5], full)


def test_blur_keeps_constants_on_every_rank() -> None:
    for shape in ((1, 2, 9), (1, 2, 9, 7), (1, 1, 5, 6, 7)):
        x = torch.full(shape, 3.0)
        torch.testing.assert_close(gaussian_blur(x), x)


def test_black_zero_mean_noise() -> None:
    x = torch.randn(2, 3, 4, 4)
    black = reference_input(x, "black")
    torch.testing.assert_close(black[0, :, 0, 0], torch.tensor([-m / s for m, s in zip(MEAN, STD)]))
    assert torch.equal(reference_input(x, "zero"), torch.zeros_like(x))
    torch.testing.assert_close(reference_input(x, "mean")[:, :, 1, 2], x.mean((2, 3)))
    noise = reference_input(x, "noise", seeds=torch.tensor([1, 2]))
    assert torch.equal(noise, reference_input(x, "noise", seeds=torch.tensor([1, 2])))
    assert noise[0].min() >= x[0].min() and noise[0].max() <= x[0].max()
    with pytest.raises(ValueError, match="unknown reference"):
        reference_input(x, "grey")
