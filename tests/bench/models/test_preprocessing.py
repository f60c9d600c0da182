"""Preprocessing: raw inputs to model inputs and back, statistics from data, the choice of normalisation, attachment to a model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bench.models.preprocessing import Preprocessing, attach, channel_statistics, preprocessing_of, resolve


def test_imagenet_preset_normalises_8_bit_rgb_with_its_published_statistics() -> None:
    p = resolve("imagenet", channels=3, rank=2, scale=255.0, value_range=(0.0, 1.0))
    out = p.normalise(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]))
    with pytest.raises(ValueError, match="3-channel"):
        resolve("imagenet", channels=1, rank=1, scale=1.0, value_range=(0.0, 1.0))


def test_dataset_statistics_equal_numpy_and_standardise_the_train_split() -> None:
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(50, 2, 7, generator=gen) * torch.tensor([1.0, 5.0]).view(1, 2, 1) + torch.tensor([0.0, -3.0]).view(1, 2, 1)
    mean, std = channel_statistics(pixels)
    array = pixels.numpy().transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(mean, array.mean(1), rtol=1e-6)
    np.testing.assert_allclose(std, array.std(1), rtol=1e-6)
    p = resolve("dataset", channels=2, rank=1, scale=1.0, value_range=(-3.0, 2.0), train_pixels=pixels)
    x = p.normalise(pixels)
    torch.testing.assert_close(x.mean((0, 2)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std((0, 2), unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.to_pixels(x), pixels, atol=1e-5, rtol=0)


def test_none_and_explicit_choices_and_shape_checks() -> None:
    p = resolve("none", channels=1, rank=1, scale=1.0, value_range=(-2.0, 2.0))
    x = torch.randn(4, 1, 40)
    assert torch.equal(p.normalise(x), x)
    explicit = resolve("imagenet", channels=1, rank=1, scale=1.0, value_range=(0.0, 1.0), mean=(1.0,), std=(2.0,))
    assert explicit.name == "explicit" and torch.equal(explicit.normalise(torch.full((1, 1, 3), 3.0)), torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match="do not fit"):
        p.normalise(torch.randn(4, 3, 40))
    with pytest.raises(ValueError, match="std must be > 0"):
        Preprocessing(channels=1, rank=1, std=(0.0,))


def test_round_trips_through_json_and_travels_with_the_model() -> None:
    p = Preprocessing(channels=3, rank=2, scale=255.0, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6), name="explicit")
    assert Preprocessing.from_dict(p.to_dict()) == p
    model = attach(nn.Linear(2, 2), p)
    assert preprocessing_of(model) is p and preprocessing_of(nn.Linear(2, 2)) is None
    assert "_bench_preprocessing" not in dict(model.named_parameters())
