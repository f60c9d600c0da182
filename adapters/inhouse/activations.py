"""Capturing a layer's activation as a leaf of the autograd graph, with gradients only below it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from bench.models.fast_path import fast_layout


class LayerCapture:
    """What a capture saw: the layer's output as a leaf tensor that requires grad."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []

    @property
    def activation(self) -> torch.Tensor:
        """The captured activation (the layer must have run exactly once)."""
        if len(self.outputs) != 1:
            raise RuntimeError(f"the target layer ran {len(self.outputs)} times in one forward pass; choose a layer that runs once")
        return self.outputs[0]


@contextlib.contextmanager
def capture_layer(layer: nn.Module) -> Iterator[LayerCapture]:
    """Run forwards inside this block with autograd off up to layer and on after it.

    The layer's output is replaced by a detached leaf (then cloned, so that in-place operations
    after the layer cannot touch it): a backward pass from the output stops there, and nothing
    upstream of the layer is recorded, which saves the memory and time of a full graph.
    """
    cap = LayerCapture()

    def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"target layer {type(module).__name__} returns {type(output).__name__}, not a tensor")
        torch.set_grad_enabled(True)
        leaf = output.detach().requires_grad_(True)
        cap.outputs.append(leaf)
        return leaf.clone()

    handle = layer.register_forward_hook(hook)
    previous = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        yield cap
    finally:
        torch.set_grad_enabled(previous)
        handle.remove()


def forward_capture(model: nn.Module, outputs: dict[str, nn.Module], x: torch.Tensor,
                    inputs: dict[str, nn.Module] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(model output, outputs and first inputs of the named modules) of one no-grad forward pass; hooks removed after."""
    seen: dict[str, torch.Tensor] = {}

    def hook(name: str, take_input: bool):
        def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            seen[name] = (args[0] if take_input else output).detach()
        return record

    handles = [m.register_forward_hook(hook(n, False)) for n, m in outputs.items()]
    handles += [m.register_forward_hook(hook(n, True)) for n, m in (inputs or {}).items()]
    try:
        with torch.no_grad():
            result = model(fast_layout(x))
    finally:
        for h in handles:
            h.remove()
    return result, seen


def forward_replacing(model: nn.Module, layer: nn.Module, x: torch.Tensor, replacement: torch.Tensor) -> torch.Tensor:
    """Model output (no grad) when layer's output is replaced by replacement, whose batch may differ from x's."""
    handle = layer.register_forward_hook(lambda module, args, output: replacement)
    try:
        with torch.no_grad():
            return model(fast_layout(x))
    finally:
        handle.remove()
