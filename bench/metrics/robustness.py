"""Robustness metrics: how maps change under small input noise (sensitivity) and how well they predict output changes (infidelity)."""

from __future__ import annotations

import torch

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import flat, is_finite, nan_where
from bench.models.fast_path import infer
from bench.utils.chunking import chunk_size, run_chunked
from bench.utils.rng import counter_normal, counter_uniform, draw_seeds


def uniform_noise(ctx: MetricContext, draws: int, radius: float, items: slice = slice(None)) -> torch.Tensor:
    """(N * draws, C, *S) noise, uniform in [-radius, radius], sample-major; only the rows in `items` are made."""
    u = counter_uniform(draw_seeds(ctx.sample_seeds(), draws)[items] ^ 0x5E45, tuple(ctx.x.shape[1:])).to(ctx.x)
    return (2 * u - 1) * radius


def gaussian_noise(ctx: MetricContext, draws: int, sigma: float, items: slice = slice(None)) -> torch.Tensor:
    """(N * draws, C, *S) Gaussian noise of standard deviation sigma, sample-major; only the rows in `items` are made."""
    return (sigma * counter_normal(draw_seeds(ctx.sample_seeds(), draws)[items] ^ 0x1F1D, tuple(ctx.x.shape[1:]))).to(ctx.x)


class _Sensitivity(Metric):
    category, direction = "robustness", "lower"
    reduce = "max"

    def __init__(self, radius: float = 0.02, samples: int = 10) -> None:
        if radius <= 0 or samples < 1:
            raise ValueError(f"need radius > 0 and samples >= 1, got {radius}, {samples}")
        self.radius, self.samples = float(radius), int(samples)

    def passes(self) -> dict[str, int]:
        """One explain call per perturbation."""
        return {"explain": self.samples}

    def ratios(self, ctx: MetricContext) -> torch.Tensor:
        """(N, samples): ||map(x + d) - map(x)||_F / ||map(x)||_F for each draw d."""
        if ctx.explain is None:
            raise ValueError(f"{self.name} re-explains perturbed inputs: the context has no explain function")
        n, m = ctx.x.shape[0], self.samples
        sample = torch.arange(n, device=ctx.x.device).repeat_interleave(m)

        def explain(a: int, b: int) -> torch.Tensor:
            s = sample[a:b]
            seeds = None if ctx.explain_seeds is None else ctx.explain_seeds[s]
            # Noise made per chunk: all draws at once would dominate both time and memory on large inputs.
            return ctx.explain(ctx.x[s] + uniform_noise(ctx, m, self.radius, slice(a, b)), ctx.target[s], seeds)

        # The batch was just explained in one call, so re-explaining as many inputs at a time costs no more memory.
        chunk = max(n, chunk_size(ctx.x, 0.0, backward=True))
        maps = run_chunked(explain, n * m, chunk).view(n, m, -1).double()
        reference = flat(ctx.maps).double()
        return (maps - reference.unsqueeze(1)).norm(dim=2) / reference.norm(dim=1, keepdim=True).clamp_min(1e-300)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        r = self.ratios(ctx)
        value = r.amax(1) if self.reduce == "max" else r.mean(1)
        zero = flat(ctx.maps).abs().amax(1) == 0
        return nan_where(value, zero | ~is_finite(ctx.maps))


class MaxSensitivity(_Sensitivity):
    """max over draws d ~ U(-radius, radius) of ||map(x + d) - map(x)|| / ||map(x)|| (Yeh et al. 2019; Captum's defaults)."""

    name = "max_sensitivity"


class AvgSensitivity(_Sensitivity):
    """The mean instead of the max over draws."""

    name, reduce = "avg_sensitivity", "mean"


class Infidelity(Metric):
    """E[(I . A - (f_c(x) - f_c(x - I)))^2] over I ~ N(0, sigma^2), f_c the target logit; A expanded over channels (Yeh et al. 2019)."""

    name, direction, category = "infidelity", "lower", "robustness"

    def __init__(self, sigma: float = 0.003, samples: int = 10) -> None:
        if sigma <= 0 or samples < 1:
            raise ValueError(f"need sigma > 0 and samples >= 1, got {sigma}, {samples}")
        self.sigma, self.samples = float(sigma), int(samples)

    def passes(self) -> dict[str, int]:
        """f_c(x) and one forward pass per noise draw."""
        return {"forward": self.samples + 1}

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        n, m = ctx.x.shape[0], self.samples
        sample = torch.arange(n, device=ctx.x.device).repeat_interleave(m)

        def logits(inputs: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return infer(ctx.model, inputs).gather(1, ctx.target[s].view(-1, 1)).squeeze(1).double()

        def predicted_and_after(a: int, b: int) -> torch.Tensor:
            noise, s = gaussian_noise(ctx, m, self.sigma, slice(a, b)), sample[a:b]
            predicted = (noise.double() * ctx.maps[s].unsqueeze(1).double()).flatten(1).sum(1)
            return torch.stack([predicted, logits(ctx.x[s] - noise, s)], 1)

        full = logits(ctx.x, torch.arange(n, device=ctx.x.device))
        predicted, after = run_chunked(predicted_and_after, n * m, chunk_size(ctx.x, 0.0)).unbind(1)
        error = (predicted - (full[sample] - after)).pow(2).view(n, m).mean(1)
        return nan_where(error, ~is_finite(ctx.maps))
