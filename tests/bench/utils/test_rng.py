"""Counter-based random numbers against a pure-Python splitmix64."""

from __future__ import annotations

import numpy as np
import torch

from bench.utils.rng import counter_uniform, sample_seeds, splitmix64, stable_seed

M64 = (1 << 64) - 1


def splitmix64_reference(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def to_signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def test_splitmix64_matches_reference() -> None:
    inputs = [0, 1, 2, 12345, (1 << 62) + 7, -1, -(1 << 63)]
    got = splitmix64(torch.tensor(inputs, dtype=torch.int64)).tolist()
    assert got == [to_signed(splitmix64_reference(v & M64)) for v in inputs]


def test_counter_uniform_is_the_reference_bits_scaled_and_rounded_once_to_float32() -> None:
    seeds = [5, -3, (1 << 62) + 1]
    got = counter_uniform(torch.tensor(seeds), (40,))
    for row, seed in zip(got.tolist(), seeds):
        first = splitmix64_reference(seed & M64)
        bits = [splitmix64_reference((first + i) & M64) >> 11 for i in range(40)]
        assert row == [float(np.float32(b * 2.0**-53)) for b in bits]


def test_counter_uniform_depends_only_on_seed_and_index() -> None:
    seeds = sample_seeds(3, ["a", "b", "c"])
    both = counter_uniform(seeds, (5, 7))
    alone = counter_uniform(seeds[1:2], (5, 7))
    assert torch.equal(both[1:2], alone)
    assert not torch.equal(both[0], both[1])
    assert both.min() >= 0 and both.max() < 1
    big = counter_uniform(torch.tensor([11]), (100_000,))
    assert abs(big.mean().item() - 0.5) < 0.01 and abs(big.var().item() - 1 / 12) < 0.003


def test_stable_seed_is_stable_and_separates_parts() -> None:
    assert stable_seed(1, "x") == stable_seed(1, "x")
    assert stable_seed(1, "x") != stable_seed(1, "y") != stable_seed(2, "x")
    assert 0 <= stable_seed("anything") < 2**63
