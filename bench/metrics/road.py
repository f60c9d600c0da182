"""ROAD (Rong et al. 2022): remove the most (MoRF) or least (LeRF) relevant pixels, fill them by noisy linear imputation.

Imputing from the neighbours instead of a constant keeps the removal shape from leaking the class into the
perturbed image. Every level of every sample is imputed and scored in chunked batches; the score is the mean
probability (or logit) of the explained class over the removal levels. Imputation and its noise act in the
model's input space, as in the reference code; the noise is drawn per (sample seed, level).
"""

from __future__ import annotations

import torch

from bench.metrics.base import CurveMetric, MetricContext
from bench.metrics.faithfulness import check_output, pixel_ranks, target_scores
from bench.metrics.imputation import noisy_linear_impute
from bench.metrics.maps import nan_where, rankable
from bench.utils.chunking import chunk_size
from bench.utils.rng import draw_seeds

DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class _Road(CurveMetric):
    category = "faithfulness"
    most_relevant_first: bool

    def __init__(self, fractions: list[float] | None = None, noise: float = 0.01, output: str = "probability",
                 tolerance: float = 1e-6) -> None:
        fractions = DEFAULT_FRACTIONS if fractions is None else fractions
        if not fractions or not all(0 < float(q) < 1 for q in fractions):
            raise ValueError(f"fractions must be a non-empty list of numbers in (0, 1), got {fractions!r}")
        if noise < 0 or not 0 < tolerance < 1:
            raise ValueError(f"need noise >= 0 and tolerance in (0, 1), got noise={noise}, tolerance={tolerance}")
        self.fractions = [float(q) for q in fractions]
        self.noise, self.output, self.tolerance = float(noise), check_output(output), float(tolerance)

    def passes(self) -> dict[str, int]:
        """One forward pass per removal fraction (the imputation is extra work, not a pass)."""
        return {"forward": len(self.fractions)}

    def curve(self, ctx: MetricContext) -> torch.Tensor:
        """(N, levels) target scores with each fraction of pixels removed and imputed."""
        n, levels = ctx.x.shape[0], len(self.fractions)
        ranks = pixel_ranks(ctx)
        pixels = ranks.shape[1]
        counts = torch.tensor([round(q * pixels) for q in self.fractions], device=ctx.x.device)
        seeds = draw_seeds(ctx.sample_seeds(), levels) ^ 0x50AD

        def build(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
            item = torch.arange(a, b, device=ctx.x.device)
            s, level = item // levels, item % levels
            limit = counts[level].view(-1, 1)
            removed = ranks[s] < limit if self.most_relevant_first else ranks[s] >= pixels - limit
            filled = noisy_linear_impute(ctx.x[s], removed.view(-1, *ctx.x.shape[2:]), seeds[item], noise=self.noise,
                                         tolerance=self.tolerance)
            return filled, s

        # The solver keeps a handful of image-sized buffers per item on top of the forward pass's activations.
        return target_scores(ctx, build, n * levels, self.output, chunk=max(1, chunk_size(ctx.x, 0.0) // 2)).view(n, levels)

    def curve_x(self) -> list[float]:
        """The removal fractions."""
        return list(self.fractions)

    def summarise(self, points: torch.Tensor, ctx: MetricContext) -> torch.Tensor:
        """Mean score over the removal levels."""
        return nan_where(points.double().mean(1), ~rankable(ctx.maps))


class RoadMoRF(_Road):
    """Mean p over removal levels when the most relevant pixels are removed first and imputed; lower is better."""

    name, direction, most_relevant_first = "road_morf", "lower", True


class RoadLeRF(_Road):
    """Mean p over removal levels when the least relevant pixels are removed first and imputed; higher is better."""

    name, direction, most_relevant_first = "road_lerf", "higher", False
