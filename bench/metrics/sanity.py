"""Sanity of a map: does it change when the model's weights are randomised (Adebayo et al. 2018)?"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bench.metrics.base import Metric, MetricContext
from bench.metrics.maps import average_ranks, flat, rankable, row_pearson
from bench.rng import stable_seed


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


class RandomisationSpearman(Metric):
    """Spearman correlation between the map of the trained model and of the model with its top `blocks` parameter
    blocks re-initialised (0: every block); lower is better. A set of entries with blocks = 1, 2, ... gives the
    cascading curve; the map is re-explained by the same adapter with the same parameters.
    """

    name, direction, category = "randomisation_spearman", "lower", "sanity"

    def __init__(self, blocks: int = 0, seed: int = 0) -> None:
        if blocks < 0:
            raise ValueError(f"blocks must be >= 0, got {blocks}")
        self.blocks, self.seed = int(blocks), int(seed)

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        if ctx.model is None or ctx.explain_with is None:
            raise ValueError("randomisation_spearman needs the model and a way to explain another model")
        randomised = randomised_copy(ctx.model, self.blocks, self.seed)
        maps = ctx.explain_with(randomised)(ctx.x, ctx.target, ctx.seeds)
        rho = row_pearson(average_ranks(flat(ctx.maps).double()), average_ranks(flat(maps).double()))
        undefined = ~rankable(ctx.maps) | ~rankable(maps)
        return torch.where(undefined, torch.full_like(rho, float("nan")), rho).float()
