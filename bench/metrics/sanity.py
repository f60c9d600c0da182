"""Sanity of a map: does it change when the model's weights are randomised (Adebayo et al. 2018)?"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import average_ranks, flat, nan_where, rankable, row_pearson
from bench.utils.rng import stable_seed

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def weight_blocks(model: nn.Module) -> list[str]:
    """Top-level children that hold parameters, from the input side to the head."""
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]


def randomised_copy(model: nn.Module, blocks: int, seed: int) -> nn.Module:
    """A copy of model with the top `blocks` parameter blocks (0: all) re-initialised, cascading from the head down."""
    clone = copy.deepcopy(model)
    names = weight_blocks(clone)
    chosen = names if blocks <= 0 else names[-blocks:]
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        # Salted: a plain small seed could replay the very initialisation the model was built with.
        torch.manual_seed(stable_seed("randomisation", seed) % 2**63)
        for name in chosen:
            for module in clone.get_submodule(name).modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
                if hasattr(module, "reset_running_stats"):
                    module.reset_running_stats()
    return clone


def ssim(a: torch.Tensor, b: torch.Tensor, *, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity (Wang et al. 2004) per pair of maps (N,*S): Gaussian window, K1 = 0.01, K2 = 0.03.

    Averaged over the positions where the whole window fits, as scikit-image does.
    """
    rank = a.ndim - 1
    if min(a.shape[1:]) < window:
        raise ValueError(f"SSIM needs maps of at least {window} pixels along every axis, got {tuple(a.shape[1:])}")
    taps = torch.exp(-(torch.arange(window, dtype=a.dtype, device=a.device) - window // 2) ** 2 / (2 * sigma**2))
    taps = taps / taps.sum()

    def local_mean(values: torch.Tensor) -> torch.Tensor:
        out = values.unsqueeze(1)
        for axis in range(rank):
            shape = [1] * rank
            shape[axis] = window
            out = _CONV[rank](out, taps.view(1, 1, *shape))
        return out.squeeze(1)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a, var_b = local_mean(a * a) - mu_a**2, local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return flat(index).mean(1)


def _unit_range(maps: torch.Tensor) -> torch.Tensor:
    """|A| min-max scaled to [0, 1] per map, as Adebayo et al. compare maps."""
    values = flat(maps.abs())
    low, high = values.amin(1, keepdim=True), values.amax(1, keepdim=True)
    return ((values - low) / (high - low).clamp_min(torch.finfo(values.dtype).tiny)).view_as(maps)


class RandomisationSpearman(Metric):
    """Spearman correlation between the map of the trained model and of the model with its top `blocks` parameter
    blocks re-initialised (0: every block); lower is better. A sweep over blocks = 1, 2, ... gives the
    cascading curve; the map is re-explained by the same adapter with the same parameters.
    """

    name, direction, category = "randomisation_spearman", "lower", "sanity"

    def __init__(self, blocks: int = 0, seed: int = 0) -> None:
        if blocks < 0:
            raise ValueError(f"blocks must be >= 0, got {blocks}")
        self.blocks, self.seed = int(blocks), int(seed)

    def passes(self) -> dict[str, int]:
        """One explain call of the randomised model."""
        return {"explain": 1}

    def similarity(self, original: torch.Tensor, randomised: torch.Tensor) -> torch.Tensor:
        """Per-sample similarity of two batches of maps."""
        return row_pearson(average_ranks(flat(original).double()), average_ranks(flat(randomised).double()))

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        if ctx.model is None or ctx.explain_with is None:
            raise ValueError(f"{self.name} needs the model and a way to explain another model")
        randomised = randomised_copy(ctx.model, self.blocks, self.seed)
        maps = ctx.explain_with(randomised)(ctx.x, ctx.target, ctx.explain_seeds)
        value = self.similarity(ctx.maps, maps)
        undefined = ~rankable(ctx.maps) | ~rankable(maps)
        return nan_where(value, undefined)


class RandomisationSSIM(RandomisationSpearman):
    """SSIM between the |map|s, each scaled to [0, 1], of the trained and the randomised model; lower is better."""

    name = "randomisation_ssim"

    def similarity(self, original: torch.Tensor, randomised: torch.Tensor) -> torch.Tensor:
        """Per-sample SSIM of the unit-range absolute maps."""
        return ssim(_unit_range(original.double()), _unit_range(randomised.double()))
