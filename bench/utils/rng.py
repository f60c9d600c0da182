"""Seeds per sample and counter-based random numbers that do not depend on batch composition."""

from __future__ import annotations

import hashlib
import math

import torch

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across processes and machines."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_seeds(base: int, sample_ids: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """One int64 seed per sample id, derived from base."""
    return torch.tensor([stable_seed(base, sid) for sid in sample_ids], dtype=torch.int64, device=device)


def _shr(x: torch.Tensor, bits: int, out: torch.Tensor | None = None) -> torch.Tensor:
    # Logical shift on int64: torch shifts signed integers arithmetically.
    shifted = torch.bitwise_right_shift(x, bits, out=out)
    return shifted.bitwise_and_((1 << (64 - bits)) - 1)


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic)."""
    # In place on one fresh tensor and one scratch buffer: the draws of a batch are millions of elements, and a
    # new tensor per operation made this twice as slow (max-sensitivity's noise cost more than a narrow model's passes).
    z = x + _GOLDEN
    scratch = torch.empty_like(z)
    z.bitwise_xor_(_shr(z, 30, scratch)).mul_(_MIX1)
    z.bitwise_xor_(_shr(z, 27, scratch)).mul_(_MIX2)
    return z.bitwise_xor_(_shr(z, 31, scratch))


def counter_uniform(seeds: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform [0,1) floats (N, *shape): element i of sample n depends only on (seeds[n], i)."""
    count = 1
    for s in shape:
        count *= s
    index = torch.arange(count, device=seeds.device, dtype=torch.int64)
    bits = _shr(splitmix64(splitmix64(seeds.view(-1, 1)) + index.view(1, -1)), 11)
    # Scaling by a power of two commutes with rounding to float32, so this equals the float64 value rounded once.
    return bits.float().mul_(2.0**-53).view(-1, *shape)


def draw_seeds(seeds: torch.Tensor, draws: int) -> torch.Tensor:
    """(N * draws,) seeds, sample-major: draw j of sample n depends only on seeds[n] and j."""
    n = seeds.shape[0]
    return seeds.repeat_interleave(draws) * 1_000_003 + torch.arange(draws, device=seeds.device).repeat(n)


def counter_normal(seeds: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal draws (N, *shape) in float64, by Box-Muller on counter_uniform; one stream per seed."""
    u = counter_uniform(seeds, (2, *shape)).double()
    return torch.sqrt(-2.0 * torch.log1p(-u[:, 0])) * torch.cos(2 * math.pi * u[:, 1])
