"""RISE (Petsiuk et al. 2018): saliency as the score-weighted average of random smooth masks."""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.core.explainer import Explainer
from bench.models.fast_path import infer
from bench.utils.chunking import chunk_size, run_chunked
from bench.utils.rng import counter_uniform, stable_seed

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def rise_masks(count: int, spatial: tuple[int, ...], cell: int, p: float, seed: int, device: torch.device) -> torch.Tensor:
    """(count, *spatial) masks: a cell^d grid of Bernoulli(p) upsampled bilinearly, then shifted by a random offset."""
    step = [math.ceil(size / cell) for size in spatial]
    seeds = torch.arange(count, device=device, dtype=torch.int64) + stable_seed("rise", seed)
    grid = (counter_uniform(seeds, tuple([cell] * len(spatial))) < p).float()
    big = nn.functional.interpolate(grid.unsqueeze(1), size=tuple((cell + 1) * s for s in step), mode=_MODES[len(spatial)], align_corners=False).squeeze(1)
    shift = (counter_uniform(seeds ^ 0x51F7, (len(spatial),)) * torch.tensor(step, device=device)).long()
    index = [torch.arange(size, device=device) for size in spatial]
    out = big
    for axis, size in enumerate(spatial):
        positions = (shift[:, axis].view(-1, 1) + index[axis].view(1, -1))  # (count, size)
        view = [count] + [1] * len(spatial)
        view[axis + 1] = size
        expand = list(out.shape)
        expand[axis + 1] = size
        out = out.gather(axis + 1, positions.view(view).expand(expand))
    return out


class RISE(Explainer):
    """saliency = sum_i p_c(x * M_i) M_i / (masks * p), masks shared by every sample (seeded by seed).

    Cost: `masks` forward passes per sample.
    """

    name, method, library = "inhouse.rise", "rise", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, masks: int = 1000, cell: int = 7, p: float = 0.5,
                 seed: int = 0, memory_budget_mib: float = 0.0) -> None:
        super().__init__(model, target_layer=None)
        if masks < 1 or cell < 1 or not 0 < p < 1:
            raise ValueError(f"need masks >= 1, cell >= 1 and 0 < p < 1, got {masks}, {cell}, {p}")
        self.count, self.cell, self.p, self.seed, self.memory_budget_mib = masks, cell, p, seed, memory_budget_mib

    def passes(self) -> dict[str, int]:
        """`masks` forward passes per sample."""
        return {"forward": self.count, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        spatial = tuple(x.shape[2:])
        if any(self.cell > size for size in spatial):
            raise ValueError(f"cell {self.cell} (grid cells per axis) is larger than the input ({'x'.join(map(str, spatial))})")
        masks = rise_masks(self.count, spatial, self.cell, self.p, self.seed, x.device).to(x.dtype)
        n, m = x.shape[0], self.count
        sample = torch.arange(n, device=x.device).repeat_interleave(m)
        which = torch.arange(m, device=x.device).repeat(n)

        def probability(start: int, stop: int) -> torch.Tensor:
            s = sample[start:stop]
            out = infer(self.model, x[s] * masks[which[start:stop]].unsqueeze(1))
            return torch.softmax(out, 1).gather(1, target[s].view(-1, 1)).squeeze(1)

        scores = run_chunked(probability, n * m, chunk_size(x, self.memory_budget_mib)).view(n, m)
        return (scores @ masks.flatten(1)).view(n, *spatial) / (m * self.p)
