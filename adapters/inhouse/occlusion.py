"""Occlusion (Zeiler & Fergus 2014): the drop in the target score when a sliding window is replaced."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from bench.core.explainer import Explainer
from bench.metrics.reference_inputs import reference_input
from bench.models.fast_path import infer
from bench.utils.chunking import chunk_size, run_chunked

OUTPUTS = ("logit", "probability")


def window_masks(spatial: tuple[int, ...], window: int, stride: int, device: torch.device) -> torch.Tensor:
    """Boolean (P, *spatial) masks of every window position; windows start at 0, stride apart, and fit inside."""
    starts = [range(0, max(size - window, 0) + 1, stride) for size in spatial]
    axes = [torch.arange(size, device=device) for size in spatial]
    masks = []
    for corner in itertools.product(*starts):
        inside = [(ax >= c) & (ax < c + window) for ax, c in zip(axes, corner)]
        mask = inside[0]
        for extra in inside[1:]:
            mask = mask.unsqueeze(-1) & extra
        masks.append(mask)
    return torch.stack(masks)


class Occlusion(Explainer):
    """Per pixel: the mean, over the windows covering it, of F(x) - F(x with the window set to the reference).

    All channels of a window are occluded together; F is the target logit (or probability). Pixels no
    window covers get 0. Cost: 1 + P forward passes per sample, P = number of window positions.
    """

    name, method, library = "inhouse.occlusion", "occlusion", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, window: int = 16, stride: int = 8,
                 baseline: str = "zero", output: str = "logit", memory_budget_mib: float = 0.0) -> None:
        super().__init__(model, target_layer=None)
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.window, self.stride, self.baseline, self.output, self.memory_budget_mib = window, stride, baseline, output, memory_budget_mib
        self.positions: int | None = None

    def passes(self) -> dict[str, int]:
        """1 + P forward passes per sample (P known after a call)."""
        return {"forward": 1 + (self.positions or 0), "backward": 0}

    def _score(self, inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = infer(self.model, inputs)
        out = torch.softmax(out, 1) if self.output == "probability" else out
        return out.gather(1, target.view(-1, 1)).squeeze(1)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        if any(self.window > size for size in x.shape[2:]):
            raise ValueError(f"window {self.window} is larger than the input ({'x'.join(map(str, x.shape[2:]))})")
        masks = window_masks(tuple(x.shape[2:]), self.window, self.stride, x.device)
        n, p = x.shape[0], masks.shape[0]
        self.positions = p
        reference = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        full = self._score(x, target)
        sample = torch.arange(n, device=x.device).repeat_interleave(p)
        position = torch.arange(p, device=x.device).repeat(n)

        def occluded_scores(start: int, stop: int) -> torch.Tensor:
            s, q = sample[start:stop], position[start:stop]
            m = masks[q].unsqueeze(1)
            return self._score(torch.where(m, reference[s], x[s]), target[s])

        drop = full.view(n, 1) - run_chunked(occluded_scores, n * p, chunk_size(x, self.memory_budget_mib)).view(n, p)
        flat = masks.flatten(1).to(x.dtype)
        total = drop @ flat
        count = flat.sum(0)
        attribution = torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
        return attribution.view(n, *x.shape[2:])
