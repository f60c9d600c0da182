"""Reference inputs that replace or stand behind an image: zero, black, blur, mean, noise.

Used by path and perturbation methods (IG, Occlusion, Gradient SHAP) and by removal metrics.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.models.preprocessing import preprocessing_of
from bench.utils.rng import counter_uniform

KINDS = ("zero", "black", "blur", "mean", "noise")
_CONV = {1: nn.functional.conv1d, 2: nn.functional.conv2d, 3: nn.functional.conv3d}


def gaussian_blur(x: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """Separable Gaussian blur over every spatial axis of x (N,C,*S), edges replicated."""
    half = kernel // 2
    taps = torch.exp(-(torch.arange(kernel, device=x.device, dtype=x.dtype) - half).pow(2) / (2 * sigma**2))
    taps = taps / taps.sum()
    channels, rank = x.shape[1], x.ndim - 2
    out = x
    for axis in range(rank):
        shape = [1] * rank
        shape[axis] = kernel
        weight = taps.view(1, 1, *shape).expand(channels, 1, *shape)
        pad = [0] * (2 * rank)
        pad[2 * (rank - 1 - axis)] = pad[2 * (rank - 1 - axis) + 1] = half
        out = _CONV[rank](nn.functional.pad(out, pad, mode="replicate"), weight, groups=channels)
    return out


def reference_input(x: torch.Tensor, kind: str, *, seeds: torch.Tensor | None = None, model: nn.Module | None = None) -> torch.Tensor:
    """The reference input of the given kind for x (N,C,*S), in the model's (normalised) input space.

    zero: zero in model space (the mean the inputs are standardised by); black: zero in pixel space (through the
    preprocessing attached to `model`); blur: Gaussian k=11, sigma=5; mean: each input's per-channel mean;
    noise: uniform over the input's value range, seeded per sample.
    """
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "black":
        preprocessing = preprocessing_of(model)
        if preprocessing is None:
            raise ValueError("reference 'black' is zero in pixel space, which needs the model's preprocessing (none is attached)")
        return preprocessing.from_pixels(torch.zeros_like(x[:1])).expand_as(x).clone()
    if kind == "blur":
        return gaussian_blur(x)
    if kind == "mean":
        return x.mean(dim=tuple(range(2, x.ndim)), keepdim=True).expand_as(x).clone()
    if kind == "noise":
        seeds = torch.arange(x.shape[0], device=x.device) if seeds is None else seeds.to(x.device)
        flat = x.reshape(x.shape[0], -1)
        low, high = flat.amin(1), flat.amax(1)
        u = counter_uniform(seeds ^ 0x5EED, tuple(x.shape[1:])).to(x.dtype)
        shape = (-1,) + (1,) * (x.ndim - 1)
        return low.view(shape) + u * (high - low).view(shape)
    raise ValueError(f"unknown reference input {kind!r}; choose one of {KINDS}")
