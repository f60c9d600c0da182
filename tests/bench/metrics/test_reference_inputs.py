"""Reference inputs: the baselines that replace pixels."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.metrics.reference_inputs import gaussian_blur, reference_input
from bench.models.preprocessing import Preprocessing, attach


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
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.1)
    model = attach(nn.Identity(), Preprocessing(channels=3, rank=2, mean=mean, std=std))
    black = reference_input(x, "black", model=model)
    torch.testing.assert_close(black[0, :, 0, 0], torch.tensor([-m / s for m, s in zip(mean, std)]))
    assert torch.equal(reference_input(x, "zero"), torch.zeros_like(x))
    torch.testing.assert_close(reference_input(x, "mean")[:, :, 1, 2], x.mean((2, 3)))
    noise = reference_input(x, "noise", seeds=torch.tensor([1, 2]))
    assert torch.equal(noise, reference_input(x, "noise", seeds=torch.tensor([1, 2])))
    assert noise[0].min() >= x[0].min() and noise[0].max() <= x[0].max()
    with pytest.raises(ValueError, match="unknown reference"):
        reference_input(x, "grey")


def test_black_follows_the_model_preprocessing_on_signals_and_needs_one() -> None:
    x = torch.randn(2, 1, 40)
    model = attach(nn.Identity(), Preprocessing(channels=1, rank=1, scale=1.0, mean=(2.0,), std=(4.0,)))
    assert torch.equal(reference_input(x, "black", model=model), torch.full_like(x, -0.5))
    with pytest.raises(ValueError, match="preprocessing"):
        reference_input(x, "black", model=nn.Identity())
