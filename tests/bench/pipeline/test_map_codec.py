"""Stored maps: float16 over a per-map scale keeps every magnitude's precision and ranking, and the special values."""

from __future__ import annotations

import torch

from bench.pipeline.map_codec import decode, encode, roundtrip


def test_relative_error_is_float16_precision_at_any_magnitude() -> None:
    maps = torch.randn(4, 32, 32, generator=torch.Generator().manual_seed(0)) * torch.tensor([1e-9, 1e-3, 1.0, 1e6]).view(-1, 1, 1)
    back = roundtrip(maps)
    scale = maps.flatten(1).abs().amax(1).view(-1, 1, 1)
    assert ((back - maps).abs() / scale).max() <= 2.0**-11
    # Plain float16 would flush the first map to zero; the codec keeps its ranking.
    assert maps[0].half().float().abs().max() == 0
    assert torch.equal(back[0].flatten().argsort()[-10:].sort().values, maps[0].flatten().argsort()[-10:].sort().values)


def test_zero_maps_nan_and_infinities_survive() -> None:
    maps = torch.zeros(3, 4, 4)
    maps[1, 0, 0] = float("nan")
    maps[1, 1, 1] = 2.0
    maps[2, 0, 0] = float("inf")
    maps[2, 1, 1] = -3.0
    half, scale = encode(maps)
    assert half.dtype == torch.float16 and scale.dtype == torch.float32 and scale.tolist() == [1.0, 2.0, 3.0]
    back = decode(half, scale)
    assert torch.equal(back[0], maps[0]) and back[1, 0, 0].isnan() and back[1, 1, 1] == 2.0
    assert back[2, 0, 0] == float("inf") and back[2, 1, 1] == -3.0


def test_the_round_trip_is_idempotent() -> None:
    maps = torch.rand(2, 16, generator=torch.Generator().manual_seed(1))
    once = roundtrip(maps)
    assert torch.equal(roundtrip(once), once)


def test_float32_storage_reads_back_bit_for_bit() -> None:
    maps = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(2)) * 1e-12
    stored, scale = encode(maps, "float32")
    assert stored.dtype == torch.float32 and torch.equal(decode(stored, scale), maps) and torch.equal(roundtrip(maps, "float32"), maps)
