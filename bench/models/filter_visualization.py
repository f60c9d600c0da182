"""Activation maximisation: for each filter of a layer, the input that maximises its mean activation.

Regularised gradient ascent in pixel space (Olah et al., "Feature Visualization", Distill 2017; Yosinski et al. 2015):
the image is sigmoid(latent), so it stays in the data's value range; every step rolls the batch by a random jitter
(what survives a shift is a feature, not an adversarial pattern), the loss adds total variation and a small L2 on the
latent, and every few steps the latent is blurred (a low-pass on what the ascent may grow). All filters of one call
are optimised together as one batch, each image for its own filter. Seeded: the start and the jitter come from one
generator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.models.layers import resolve_layer
from bench.models.preprocessing import preprocessing_of

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class AscentSettings:
    """Steps and learning rate of the ascent, jitter (pixels), total-variation and L2 weights, blur period and width, seed."""

    steps: int = 256
    lr: float = 0.05
    jitter: int = 4
    tv: float = 0.05
    l2: float = 1e-4
    blur_every: int = 8
    blur_sigma: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.jitter < 0 or self.tv < 0 or self.l2 < 0 or self.blur_every < 0 or self.blur_sigma < 0:
            raise ValueError(f"steps >= 1, lr > 0 and the other settings >= 0, got {asdict(self)}")


@dataclass(frozen=True)
class FilterImages:
    """The optimised inputs (F, C, *S) in pixel space [0, 1], the filters they belong to, and each filter's mean
    activation on its own image and on a uniform grey one (what the ascent gained)."""

    layer: str
    filters: list[int]
    images: torch.Tensor
    activation: list[float]
    grey_activation: list[float]


class _Reached(Exception):
    """Raised by the hook once the layer has run: nothing after it is needed."""


def _layer_output(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's output for x, without running the layers after it."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)
        raise _Reached

    handle = layer.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError("the layer did not run in the model's forward pass")
    return captured[0]


def _filter_means(output: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Mean activation (F,) of filter filters[i] on batch item i."""
    picked = output[torch.arange(len(filters), device=output.device), filters.to(output.device)]
    return picked.flatten(1).mean(1)


def _total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbours along every spatial axis, per image (F,)."""
    tv = torch.zeros(images.shape[0], device=images.device, dtype=images.dtype)
    for axis in range(2, images.ndim):
        tv = tv + images.diff(dim=axis).abs().flatten(1).mean(1)
    return tv


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur along every spatial axis, reflect-padded, per channel."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels, rank = x.shape[1], x.ndim - 2
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    for axis in range(rank):
        shape = [1] * rank
        shape[axis] = len(t)
        pad = [0, 0] * rank
        pad[2 * (rank - 1 - axis)] = pad[2 * (rank - 1 - axis) + 1] = radius
        x = conv(F.pad(x, pad, mode="reflect"), kernel.view(1, 1, *shape).expand(channels, 1, *shape), groups=channels)
    return x


def layer_filters(model: nn.Module, layer: str) -> int:
    """The number of filters (output channels) of a layer: of its last convolution, or of the module itself."""
    _, module = resolve_layer(model, layer)
    convs = [m for m in module.modules() if isinstance(m, _CONVS)]
    if convs:
        return convs[-1].out_channels
    raise ValueError(f"layer {layer!r} has no convolution; name a convolution or a block of them")


def maximise_filters(model: nn.Module, layer: str, filters: list[int], input_shape: tuple[int, ...],
                     settings: AscentSettings = AscentSettings()) -> FilterImages:
    """For each filter of the layer, the pixel-space input (C, *S) that maximises its mean activation (see the module)."""
    name, module = resolve_layer(model, layer)
    count = layer_filters(model, name)
    bad = [f for f in filters if not 0 <= f < count]
    if not filters or bad:
        raise ValueError(f"filters must be indices in [0, {count}) of {name!r}, got {bad or filters}")
    device = next(model.parameters()).device
    preprocessing = preprocessing_of(model)
    normalise = (lambda p: preprocessing.from_pixels(p)) if preprocessing else (lambda p: p)
    gen = torch.Generator().manual_seed(settings.seed)
    n = len(filters)
    index = torch.tensor(filters)
    # A noisy grey start (pixels 0.5 +- about 0.2): a filter that a flat input leaves at zero behind a ReLU gets no
    # gradient there, while some positions of a noisy input excite it.
    latent = torch.randn(n, *input_shape, generator=gen).to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([latent], lr=settings.lr)
    was_training = model.training
    model.eval()
    try:
        for step in range(settings.steps):
            images = torch.sigmoid(latent)
            if settings.jitter:
                shifts = torch.randint(-settings.jitter, settings.jitter + 1, (len(input_shape) - 1,), generator=gen).tolist()
                images = images.roll(shifts, dims=tuple(range(2, images.ndim)))
            activation = _filter_means(_layer_output(model, module, normalise(images)), index)
            loss = (-activation + settings.tv * _total_variation(torch.sigmoid(latent)) + settings.l2 * latent.pow(2).flatten(1).mean(1)).sum()
            (grad,) = torch.autograd.grad(loss, latent)
            latent.grad = grad
            optimiser.step()
            if settings.blur_every and settings.blur_sigma and (step + 1) % settings.blur_every == 0:
                with torch.no_grad():
                    latent.copy_(_gaussian_blur(latent, settings.blur_sigma))
        with torch.no_grad():
            images = torch.sigmoid(latent)
            final = _filter_means(_layer_output(model, module, normalise(images)), index)
            grey = _filter_means(_layer_output(model, module, normalise(torch.full_like(images, 0.5))), index)
    finally:
        model.train(was_training)
    return FilterImages(name, list(filters), images.detach().cpu(), final.cpu().tolist(), grey.cpu().tolist())


def image_grid(images: torch.Tensor, columns: int = 8, gap: int = 2) -> torch.Tensor:
    """The images (F, C, H, W) in [0, 1] tiled row by row into one (C, H', W') image with white gaps."""
    n, c, h, w = images.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    grid = torch.ones(c, rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap)
    for i in range(n):
        r, k = divmod(i, columns)
        grid[:, r * (h + gap):r * (h + gap) + h, k * (w + gap):k * (w + gap) + w] = images[i]
    return grid


def spread_layers(model: nn.Module) -> list[str]:
    """An early, a middle and the last of the model's blocks of convolutions: its top-level blocks when it has three or
    more, else its convolutions. A top-level bare convolution (a stem) is skipped: its mean activation is linear in the
    input, so the input that maximises it is a flat colour."""
    blocks = [name for name, child in model.named_children()
              if not isinstance(child, _CONVS) and any(isinstance(m, _CONVS) for m in child.modules())]
    if len(blocks) < 3:
        blocks = [name for name, m in model.named_modules() if isinstance(m, _CONVS)][1:] or blocks
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no block of convolutions to visualise")
    picks = [blocks[0], blocks[len(blocks) // 2], blocks[-1]] if len(blocks) > 2 else blocks
    return list(dict.fromkeys(picks))
