"""How maps are stored: float16 of each map divided by its largest finite magnitude, plus that scale in float32 (or float32 as is).

Plain float16 would flush gradient maps of magnitude < 6e-8 to zero and lose their ranking; dividing by the
per-map scale keeps 11 significant bits at any magnitude. Every map a metric sees goes through this round trip,
the fresh ones too, so a score is the same whether it was computed right after explaining or later from the store.
"""

from __future__ import annotations

import torch

CODEC_VERSION = 1


def encode(maps: torch.Tensor, dtype: str = "float16") -> tuple[torch.Tensor, torch.Tensor]:
    """(maps / scale in dtype, float32 scale per map) of float maps (N, *S); NaN and infinities are kept as they are.

    float32 maps are stored as they are (scale 1), so that they read back bit for bit.
    """
    if dtype == "float32":
        return maps.detach().float(), torch.ones(len(maps), device=maps.device)
    flat = maps.detach().float().flatten(1)
    finite = torch.isfinite(flat)
    scale = torch.where(finite, flat.abs(), torch.zeros_like(flat)).amax(1) if flat.shape[1] else torch.zeros(len(flat), device=flat.device)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (maps.float() / scale.view(-1, *[1] * (maps.ndim - 1))).half(), scale


def decode(stored: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Float32 maps back from their stored form."""
    return stored.float() * scale.float().view(-1, *[1] * (stored.ndim - 1))


def roundtrip(maps: torch.Tensor, dtype: str = "float16") -> torch.Tensor:
    """The maps exactly as they will read back from the store."""
    return decode(*encode(maps, dtype)).to(maps.device)
