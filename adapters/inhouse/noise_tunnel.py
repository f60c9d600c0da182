"""SmoothGrad, SmoothGrad-squared and VarGrad: any in-house method averaged over noisy copies of the input."""

from __future__ import annotations

import torch
from torch import nn

from bench.core import registry
from bench.core.explainer import Explainer
from bench.utils.chunking import chunk_size, run_chunked
from bench.utils.rng import counter_normal, draw_seeds

VARIANTS = ("smoothgrad", "smoothgrad_sq", "vargrad")


class NoiseTunnel(Explainer):
    """Smilkov et al. 2017: average the base method's raw map over `samples` copies x + N(0, sigma^2).

    sigma = noise_level * (max(x) - min(x)) per sample. variant: smoothgrad (mean), smoothgrad_sq (mean of
    squares), vargrad (variance). Noise is drawn per sample seed, so a sample's map does not depend on its
    batch. Cost: samples times the base method's cost.
    """

    library = "inhouse"
    variant = "smoothgrad"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, base: str = "inhouse.saliency", samples: int = 25,
                 noise_level: float = 0.15, memory_budget_mib: float = 0.0, base_params: dict | None = None) -> None:
        super().__init__(model, target_layer=target_layer)
        if samples < 1 or noise_level < 0:
            raise ValueError(f"need samples >= 1 and noise_level >= 0, got {samples}, {noise_level}")
        cls = registry.get(base)
        if issubclass(cls, NoiseTunnel):
            raise ValueError("a noise tunnel cannot wrap another noise tunnel")
        self.base = cls(model, target_layer=target_layer, **(base_params or {}))
        self.channel_reduction = self.base.channel_reduction
        self.samples, self.noise_level, self.memory_budget_mib = samples, noise_level, memory_budget_mib

    def passes(self) -> dict[str, int]:
        """samples times the wrapped method's passes."""
        return {k: v * self.samples for k, v in self.base.passes().items()}

    def close(self) -> None:
        """Close the wrapped explainer."""
        self.base.close()

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        n, m = x.shape[0], self.samples
        seeds = torch.arange(n, device=x.device) if seeds is None else seeds.to(x.device)
        noise_seeds = draw_seeds(seeds, m)
        span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)) * self.noise_level
        sample = torch.arange(n, device=x.device).repeat_interleave(m)
        shape = (-1,) + (1,) * (x.ndim - 1)

        def explain(start: int, stop: int) -> torch.Tensor:
            s = sample[start:stop]
            noisy = x[s] + span[s].view(shape) * counter_normal(noise_seeds[start:stop], tuple(x.shape[1:])).float().to(x)
            return torch.as_tensor(self.base.attribute(noisy, target[s], seeds=noise_seeds[start:stop])).detach()

        maps = run_chunked(explain, n * m, chunk_size(x, self.memory_budget_mib, backward=True))
        maps = maps.view(n, m, *maps.shape[1:])
        if self.variant == "smoothgrad":
            return maps.mean(1)
        if self.variant == "smoothgrad_sq":
            return maps.pow(2).mean(1)
        return maps.var(1, unbiased=False)


class SmoothGrad(NoiseTunnel):
    """SmoothGrad: mean of the base method's maps over noisy inputs."""

    name, method, variant = "inhouse.smoothgrad", "smoothgrad", "smoothgrad"


class SmoothGradSquared(NoiseTunnel):
    """SmoothGrad-squared (Hooker et al. 2019): mean of the squared maps."""

    name, method, variant = "inhouse.smoothgrad_sq", "smoothgrad_sq", "smoothgrad_sq"


class VarGrad(NoiseTunnel):
    """VarGrad (Adebayo et al. 2018): variance of the maps."""

    name, method, variant = "inhouse.vargrad", "vargrad", "vargrad"
