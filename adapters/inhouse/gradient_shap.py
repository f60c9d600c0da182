"""Gradient SHAP (Lundberg & Lee 2017, as Captum defines it): expected gradients over random references."""

from __future__ import annotations

import torch
from torch import nn

from adapters.inhouse.input_gradients import InputGradientMethod, input_gradient
from bench.metrics.reference_inputs import KINDS, reference_input
from bench.utils.chunking import chunk_size, run_chunked
from bench.utils.rng import counter_normal, counter_uniform, draw_seeds


class GradientSHAP(InputGradientMethod):
    """mean over draws of (x~ - b) * dF(b + a (x~ - b))/dx, with b drawn from the references, a ~ U(0,1), x~ = x + N(0, stdev^2).

    references: comma-separated kinds from bench.metrics.reference_inputs. Cost: samples forward and backward passes.
    """

    name, method = "inhouse.gradient_shap", "gradient_shap"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, samples: int = 25, stdev: float = 0.0,
                 references: str = "zero,blur", memory_budget_mib: float = 0.0) -> None:
        super().__init__(model, target_layer=None)
        self.references = [r.strip() for r in references.split(",") if r.strip()]
        unknown = [r for r in self.references if r not in KINDS]
        if unknown or not self.references:
            raise ValueError(f"references must be kinds from {KINDS}, got {references!r}")
        if samples < 1 or stdev < 0:
            raise ValueError(f"need samples >= 1 and stdev >= 0, got {samples}, {stdev}")
        self.samples, self.stdev, self.memory_budget_mib = samples, stdev, memory_budget_mib

    def passes(self) -> dict[str, int]:
        """samples forward and backward passes per sample."""
        return {"forward": self.samples, "backward": self.samples}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        n, m = x.shape[0], self.samples
        seeds = torch.arange(n, device=x.device) if seeds is None else seeds.to(x.device)
        refs = torch.stack([reference_input(x, kind, seeds=seeds, model=self.model) for kind in self.references], 1)  # (N, R, C, *S)
        noise_seeds = draw_seeds(seeds, m)
        u = counter_uniform(noise_seeds ^ 0x5AB, (2,))
        pick = (u[:, 0] * len(self.references)).long().clamp(max=len(self.references) - 1)
        alpha = u[:, 1]
        sample = torch.arange(n, device=x.device).repeat_interleave(m)
        shape = (-1,) + (1,) * (x.ndim - 1)

        def attribute(start: int, stop: int) -> torch.Tensor:
            s = sample[start:stop]
            noisy = x[s] + self.stdev * counter_normal(noise_seeds[start:stop], tuple(x.shape[1:])).float().to(x) if self.stdev else x[s]
            b = refs[s, pick[start:stop]]
            grad, _ = input_gradient(self.model, b + alpha[start:stop].to(x).view(shape) * (noisy - b), target[s])
            return (noisy - b) * grad

        out = run_chunked(attribute, n * m, chunk_size(x, self.memory_budget_mib, backward=True))
        return out.view(n, m, *x.shape[1:]).mean(1)
