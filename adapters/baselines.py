"""Baseline maps that every leaderboard carries, so each number can be read against chance."""

from __future__ import annotations

import torch

from bench.core.explainer import Explainer
from bench.utils.rng import counter_uniform, stable_seed


class RandomMap(Explainer):
    """Independent uniform noise per pixel, seeded per sample (batch-invariant when seeds are given)."""

    name = "baseline.random"
    method = "random"
    library = "baseline"

    def __init__(self, model: torch.nn.Module, *, target_layer: str | None = None, seed: int = 0) -> None:
        super().__init__(model, target_layer=None)
        self.seed = seed

    def passes(self) -> dict[str, int]:
        """No model evaluation at all."""
        return {"forward": 0, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        if seeds is None:
            # Without per-sample seeds the map depends on the sample's position in the batch.
            seeds = torch.arange(x.shape[0], dtype=torch.int64)
        seeds = seeds.to(x.device) ^ stable_seed("baseline.random", self.seed)
        return counter_uniform(seeds, tuple(x.shape[2:]))


class CentrePrior(Explainer):
    """A centred Gaussian with standard deviation sigma times the extent of each spatial axis."""

    name = "baseline.centre"
    method = "centre_prior"
    library = "baseline"

    def __init__(self, model: torch.nn.Module, *, target_layer: str | None = None, sigma: float = 0.25) -> None:
        super().__init__(model, target_layer=None)
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma = sigma

    def passes(self) -> dict[str, int]:
        """No model evaluation at all."""
        return {"forward": 0, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        spatial = x.shape[2:]
        log_density = torch.zeros(spatial, device=x.device)
        for axis, size in enumerate(spatial):
            coords = (torch.arange(size, device=x.device, dtype=torch.float32) + 0.5) / size - 0.5
            shape = [1] * len(spatial)
            shape[axis] = size
            log_density = log_density - (coords / self.sigma).pow(2).view(shape) / 2
        return log_density.exp().expand(x.shape[0], *spatial).clone()


class ConstantMap(Explainer):
    """The same value everywhere: every rank-based metric must call it undefined."""

    name = "baseline.constant"
    method = "constant"
    library = "baseline"

    def __init__(self, model: torch.nn.Module, *, target_layer: str | None = None, value: float = 1.0) -> None:
        super().__init__(model, target_layer=None)
        self.value = value

    def passes(self) -> dict[str, int]:
        """No model evaluation at all."""
        return {"forward": 0, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        return torch.full((x.shape[0], *x.shape[2:]), float(self.value), device=x.device)
