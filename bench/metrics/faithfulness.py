"""Faithfulness metrics: does removing or keeping what the map calls important change the model's output as it should?

All perturbed inputs of a batch (every step of every sample) go through the model in chunked batched
forward passes. Pixels are removed across all channels at once; the replacement is an explicit
reference input (bench.metrics.reference_inputs: zero, black, blur, mean, noise). Scores are the softmax
probability of the explained class unless output="logit".
"""

from __future__ import annotations

import torch

from bench.metrics.base import CurveMetric, Metric, MetricContext
from bench.metrics.maps import flat, is_finite, nan_where, normalised, rank_order, rankable, row_pearson
from bench.metrics.reference_inputs import reference_input
from bench.models.fast_path import infer
from bench.utils.chunking import chunk_size, run_chunked
from bench.utils.rng import counter_uniform, draw_seeds

OUTPUTS = ("probability", "logit")


def target_scores(ctx: MetricContext, build, items: int, output: str = "probability", chunk: int | None = None) -> torch.Tensor:
    """Scores of the target class for `items` perturbed inputs made by build(start, stop) -> (inputs, sample index), `chunk` at a time."""
    def score(start: int, stop: int) -> torch.Tensor:
        inputs, sample = build(start, stop)
        out = infer(ctx.model, inputs)
        out = torch.softmax(out, 1) if output == "probability" else out
        return out.gather(1, ctx.target[sample].view(-1, 1)).squeeze(1)

    return run_chunked(score, items, chunk or chunk_size(ctx.x, 0.0))


def _base_scores(ctx: MetricContext, output: str) -> torch.Tensor:
    key = ("target_scores", output)
    if key not in ctx.cache:
        ctx.cache[key] = target_scores(ctx, lambda a, b: (ctx.x[a:b], torch.arange(a, b, device=ctx.x.device)), ctx.x.shape[0], output)
    return ctx.cache[key]


def pixel_ranks(ctx: MetricContext) -> torch.Tensor:
    """(N,P) rank of every pixel, 0 for the most salient; ties broken by the seeded permutation. Shared by the batch's metrics."""
    if "pixel_ranks" not in ctx.cache:
        order = rank_order(ctx.maps, ctx.seed)
        ranks = torch.empty_like(order)
        ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
        ctx.cache["pixel_ranks"] = ranks
    return ctx.cache["pixel_ranks"]


def check_output(output: str) -> str:
    """output itself when it is a known score ("probability" or "logit"), else a ValueError."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    return output


class AverageDrop(Metric):
    """100 * relu(p(x) - p(x * M)) / p(x), M the normalised map (kept on its top `fraction` of pixels), multiplied in pixel space.

    Chattopadhay et al. 2018 (Grad-CAM++); with fraction=0.5 the Score-CAM paper's top-50% protocol.
    """

    name, direction, category = "average_drop", "lower", "faithfulness"

    def __init__(self, fraction: float = 1.0, output: str = "probability") -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
        self.fraction, self.output = float(fraction), check_output(output)

    def passes(self) -> dict[str, int]:
        """p(x) and p(x * M): 2 forward passes."""
        return {"forward": 2}

    def explained_scores(self, ctx: MetricContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(p(x), p(x * M)) per sample."""
        key = ("explained_scores", self.fraction, self.output)
        if key not in ctx.cache:
            ctx.cache[key] = self._masked_scores(ctx)
        return _base_scores(ctx, self.output), ctx.cache[key]

    def _masked_scores(self, ctx: MetricContext) -> torch.Tensor:
        mask = normalised(ctx.maps)
        if self.fraction < 1:
            keep = pixel_ranks(ctx) < round(self.fraction * flat(mask).shape[1])
            mask = mask * keep.view_as(mask)
        masked = ctx.from_pixels(ctx.to_pixels(ctx.x) * mask.unsqueeze(1))
        return target_scores(ctx, lambda a, b: (masked[a:b], torch.arange(a, b, device=ctx.x.device)), ctx.x.shape[0], self.output)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        before, after = self.explained_scores(ctx)
        undefined = ~is_finite(ctx.maps) | (~rankable(ctx.maps) if self.fraction < 1 else torch.zeros_like(before, dtype=torch.bool))
        return nan_where(100 * torch.relu(before - after) / before.clamp_min(1e-12), undefined)


class AverageDropTop50(AverageDrop):
    """Average drop keeping only the top 50% of the normalised map (Score-CAM paper protocol)."""

    name = "average_drop_top50"

    def __init__(self, fraction: float = 0.5, output: str = "probability") -> None:
        super().__init__(fraction, output)


class IncreaseInConfidence(AverageDrop):
    """100 if p(x * M) > p(x) else 0; its mean is the percentage of samples whose confidence increased."""

    name, direction = "increase_in_confidence", "higher"

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        before, after = self.explained_scores(ctx)
        return nan_where(100 * (after > before).double(), ~is_finite(ctx.maps))


class _KeepOrRemove(Metric):
    """Set pixels by rank to the reference input and score the result."""

    category = "faithfulness"
    remove_top = True

    def __init__(self, fraction: float, baseline: str = "zero", output: str = "probability") -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
        self.fraction, self.baseline, self.output = float(fraction), baseline, check_output(output)

    def passes(self) -> dict[str, int]:
        """p(x) and p of the perturbed input: 2 forward passes."""
        return {"forward": 2}

    def scores(self, ctx: MetricContext) -> tuple[torch.Tensor, torch.Tensor]:
        ranks = pixel_ranks(ctx)
        k = round(self.fraction * ranks.shape[1])
        replace = (ranks < k) if self.remove_top else (ranks >= k)
        reference = reference_input(ctx.x, self.baseline, seeds=ctx.sample_seeds(), model=ctx.model)
        perturbed = torch.where(replace.view(ctx.x.shape[0], 1, *ctx.x.shape[2:]), reference, ctx.x)
        after = target_scores(ctx, lambda a, b: (perturbed[a:b], torch.arange(a, b, device=ctx.x.device)), ctx.x.shape[0], self.output)
        return _base_scores(ctx, self.output), after


class RemoveTopDrop(_KeepOrRemove):
    """(p(x) - p(x with its top `fraction` pixels set to the reference)) / p(x)."""

    name, direction = "remove_top_drop", "higher"

    def __init__(self, fraction: float = 0.25, baseline: str = "zero", output: str = "probability") -> None:
        super().__init__(fraction, baseline, output)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        before, after = self.scores(ctx)
        return nan_where((before - after) / before.clamp_min(1e-12), ~rankable(ctx.maps))


class DropRate(_KeepOrRemove):
    """relu(p(x) - p(x keeping only its top `fraction` pixels)) / p(x), the rest set to the reference."""

    name, direction, remove_top = "drop_rate", "lower", False

    def __init__(self, fraction: float = 0.9, baseline: str = "zero", output: str = "probability") -> None:
        super().__init__(fraction, baseline, output)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        before, after = self.scores(ctx)
        return nan_where(torch.relu(before - after) / before.clamp_min(1e-12), ~rankable(ctx.maps))


class IncreaseRate(DropRate):
    """1 if keeping only the top `fraction` pixels raises p, else 0."""

    name, direction = "increase_rate", "higher"

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        before, after = self.scores(ctx)
        return nan_where((after > before).double(), ~rankable(ctx.maps))


class _Curve(CurveMetric):
    category = "faithfulness"
    insert = False

    def __init__(self, steps: int = 100, baseline: str = "zero", output: str = "probability") -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps, self.baseline, self.output = int(steps), baseline, check_output(output)

    def passes(self) -> dict[str, int]:
        """One forward pass per point of the curve: steps + 1."""
        return {"forward": self.steps + 1}

    def curve(self, ctx: MetricContext) -> torch.Tensor:
        """(N, steps + 1) scores as pixels are removed (or inserted) in order of the map."""
        n, m = ctx.x.shape[0], self.steps + 1
        ranks = pixel_ranks(ctx).view(n, 1, *ctx.x.shape[2:])
        counts = torch.round(torch.arange(m, device=ctx.x.device, dtype=torch.float64) * ranks[0].numel() / self.steps).long()
        reference = reference_input(ctx.x, self.baseline, seeds=ctx.sample_seeds(), model=ctx.model)
        start_from, put_in = (reference, ctx.x) if self.insert else (ctx.x, reference)

        def build(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
            item = torch.arange(a, b, device=ctx.x.device)
            s, step = item // m, item % m
            changed = ranks[s] < counts[step].view(-1, *([1] * (ctx.x.ndim - 1)))
            return torch.where(changed, put_in[s], start_from[s]), s

        return target_scores(ctx, build, n * m, self.output).view(n, m)

    def curve_x(self) -> list[float]:
        """0, 1/steps, ..., 1."""
        return [i / self.steps for i in range(self.steps + 1)]

    def summarise(self, points: torch.Tensor, ctx: MetricContext) -> torch.Tensor:
        """Trapezoidal area under the curve over the unit interval."""
        values = points.double()
        auc = ((values[:, 1:] + values[:, :-1]) / 2).sum(1) / self.steps
        return nan_where(auc, ~rankable(ctx.maps))


class DeletionAUC(_Curve):
    """Area under p as the most salient pixels are replaced by the reference in `steps` steps (RISE protocol)."""

    name, direction = "deletion_auc", "lower"


class InsertionAUC(_Curve):
    """Area under p as the most salient pixels are put back into the blurred image in `steps` steps (RISE protocol)."""

    name, direction, insert = "insertion_auc", "higher", True

    def __init__(self, steps: int = 100, baseline: str = "blur", output: str = "probability") -> None:
        super().__init__(steps, baseline, output)


class FaithfulnessCorrelation(Metric):
    """Pearson correlation, over random pixel subsets, between the map's sum on the subset and the drop in p
    when the subset is set to the reference (Bhatt et al. 2020). Subset size: subset_pixels per
    reference_pixels of image (224 of 224x224), scaled to the input; subsets drawn per sample seed.
    """

    name, direction, category = "faithfulness_corr", "higher", "faithfulness"

    def __init__(self, subsets: int = 100, subset_pixels: int = 224, reference_pixels: int = 224 * 224, baseline: str = "zero",
                 output: str = "probability") -> None:
        if subsets < 2 or subset_pixels < 1 or reference_pixels < 1:
            raise ValueError("need subsets >= 2, subset_pixels >= 1 and reference_pixels >= 1")
        self.subsets, self.subset_pixels, self.reference_pixels = int(subsets), int(subset_pixels), int(reference_pixels)
        self.baseline, self.output = baseline, check_output(output)

    def passes(self) -> dict[str, int]:
        """p(x) and one forward pass per subset."""
        return {"forward": self.subsets + 1}

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        n, m = ctx.x.shape[0], self.subsets
        pixels = flat(ctx.maps).shape[1]
        size = max(1, round(self.subset_pixels * pixels / self.reference_pixels))
        seeds = draw_seeds(ctx.sample_seeds(), m) ^ 0xFA17
        # Subsets as pixel indices (N*m, size), drawn a few at a time: the keys of all draws at once are N*m image-sized rows.
        subsets = run_chunked(lambda a, b: counter_uniform(seeds[a:b], (pixels,)).topk(size, dim=1).indices, n * m, 16)
        sample = torch.arange(n, device=ctx.x.device).repeat_interleave(m)
        attribution_sums = flat(ctx.maps)[sample].gather(1, subsets).sum(1).double().view(n, m)
        reference = reference_input(ctx.x, self.baseline, seeds=ctx.sample_seeds(), model=ctx.model)

        def build(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
            s = sample[a:b]
            chosen = torch.zeros(b - a, pixels, dtype=torch.bool, device=ctx.x.device).scatter_(1, subsets[a:b], True)
            return torch.where(chosen.view(-1, 1, *ctx.x.shape[2:]), reference[s], ctx.x[s]), s

        drops = (_base_scores(ctx, self.output).view(n, 1) - target_scores(ctx, build, n * m, self.output).view(n, m)).double()
        # A constant map has no correlation to measure; its subset sums differ only by float rounding, so row_pearson alone misses it.
        return nan_where(row_pearson(attribution_sums, drops), ~rankable(ctx.maps))
