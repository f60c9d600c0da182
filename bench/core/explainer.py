"""The Explainer interface every adapter implements, and canonicalize: the one place maps are unified."""

from __future__ import annotations

import abc
from importlib import metadata
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from bench.core.errors import BenchError

CHANNEL_REDUCTIONS = ("sum", "mean", "abs_sum")
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


class NotSupported(BenchError):
    """A method that does not work for this model or input (recorded as a failure, never a silent wrong map)."""


class Explainer(abc.ABC):
    """An implementation of an explanation method behind one interface; use it as a context manager."""

    name: ClassVar[str]
    method: ClassVar[str]
    library: ClassVar[str]
    # Package whose version is recorded with every result (None: this repository's own code).
    package: ClassVar[str | None] = None
    # How canonicalize reduces a channel axis of the raw map; None when the raw map has none.
    channel_reduction: ClassVar[str | None] = None
    # Spatial ranks the implementation handles (1: signals, 2: images, 3: volumes).
    spatial_ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        self.model = model
        self.target_layer = target_layer

    @classmethod
    def version(cls) -> str:
        """Version of the implementing library."""
        if cls.package is None:
            from bench import __version__

            return __version__
        return metadata.version(cls.package)

    def attribute(self, x: torch.Tensor, target: torch.Tensor, *, seeds: torch.Tensor | None = None) -> torch.Tensor | np.ndarray:
        """Raw attribution map for inputs x (N,C,*S) and one target class per sample (N,)."""
        n = x.shape[0]
        if x.ndim - 2 not in self.spatial_ranks:
            raise NotSupported(f"{self.name} handles inputs with {self.spatial_ranks} spatial dimensions, not {x.ndim - 2}")
        if not isinstance(target, torch.Tensor) or target.ndim != 1 or target.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"{self.name}: target must be an integer tensor of shape (N,), got {getattr(target, 'shape', type(target))}")
        if target.shape[0] != n:
            raise ValueError(f"{self.name}: one target per sample is required: {target.shape[0]} targets for a batch of {n}")
        if seeds is not None and seeds.shape != (n,):
            raise ValueError(f"{self.name}: seeds must have shape ({n},), got {tuple(seeds.shape)}")
        return self._attribute(x, target.to(device=x.device, dtype=torch.int64), seeds)

    @abc.abstractmethod
    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor | np.ndarray:
        """The method itself; inputs are already validated."""

    def passes(self) -> dict[str, int]:
        """Passes per sample that one attribute call costs: full 'forward' and 'backward' passes, and
        'head_forward' / 'head_backward' passes through only the layers after the target layer, which
        the efficiency figure counts as free."""
        return {"forward": 1, "backward": 0}

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """Per-sample by-products of the last call worth recording (e.g. IG's completeness error)."""
        return {}

    def close(self) -> None:
        """Release hooks and any other resources; the model is as it was before."""

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def canonicalize(raw: torch.Tensor | np.ndarray, *, spatial: tuple[int, ...], channel_reduction: str | None = None) -> torch.Tensor:
    """Raw map to float32 (N, *spatial): channels reduced as declared, (bi/tri)linear upsampling, values untouched."""
    maps = torch.as_tensor(raw).detach().float()
    if channel_reduction is not None:
        if channel_reduction not in CHANNEL_REDUCTIONS:
            raise ValueError(f"unknown channel reduction {channel_reduction!r}; choose one of {CHANNEL_REDUCTIONS}")
        if maps.ndim != len(spatial) + 2:
            raise ValueError(f"expected a raw map (N, C, *S) with {len(spatial)} spatial dims, got shape {tuple(maps.shape)}")
        maps = maps.abs().sum(1) if channel_reduction == "abs_sum" else getattr(maps, channel_reduction)(1)
    if maps.ndim != len(spatial) + 1:
        raise ValueError(f"expected a map (N, *S) with {len(spatial)} spatial dims, got shape {tuple(maps.shape)}")
    if tuple(maps.shape[1:]) != tuple(spatial):
        maps = nn.functional.interpolate(maps.unsqueeze(1), size=tuple(spatial), mode=_INTERPOLATION[len(spatial)], align_corners=False).squeeze(1)
    return maps.contiguous()
