"""CAMs whose channel weights come from extra forward passes: Score-CAM and Ablation-CAM."""

from __future__ import annotations

import torch
from torch import nn

from adapters.inhouse.activations import forward_capture, forward_replacing
from bench.core.explainer import Explainer
from bench.models.fast_path import infer
from bench.models.layers import resolve_layer
from bench.utils.chunking import chunk_size, run_chunked

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
SCORE_WEIGHTS = ("probability", "channel_softmax")


def _expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(*v.shape, *([1] * (like.ndim - v.ndim)))


class ScoreCAM(Explainer):
    """Score-CAM (Wang et al. 2020): each channel's upsampled, min-max normalised activation masks the input.

    weights="probability" (the paper): w_k = softmax(f(x * H_k))_c, the target's class probability.
    weights="channel_softmax" (pytorch-grad-cam's variant): w = softmax over channels of the target logit.
    map = relu(sum_k w_k A_k). Channels whose activation is constant give an all-zero mask; they share one
    forward pass of the zero input. Cost: 1 + (live channels) forward passes per sample, at most 1 + K.
    """

    name, method, library = "inhouse.scorecam", "scorecam", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, weights: str = "probability",
                 memory_budget_mib: float = 0.0, align_corners: bool = False, relu: bool = True) -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        if weights not in SCORE_WEIGHTS:
            raise ValueError(f"weights must be one of {SCORE_WEIGHTS}, got {weights!r}")
        self.weights, self.memory_budget_mib, self.align_corners, self.relu = weights, memory_budget_mib, align_corners, relu
        self.channels: int | None = None

    def passes(self) -> dict[str, int]:
        """1 + K forward passes per sample at most (K channels of the target layer; known after a call)."""
        return {"forward": 1 + (self.channels or 0), "backward": 0}

    def _masks(self, a: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        up = nn.functional.interpolate(a.unsqueeze(1), size=spatial, mode=_MODES[len(spatial)], align_corners=self.align_corners).squeeze(1)
        flat = up.flatten(1)
        low, high = flat.amin(1), flat.amax(1)
        span = torch.where(high > low, high - low, torch.ones_like(high))
        return (up - _expand(low, up)) / _expand(span, up) * _expand((high > low).to(up.dtype), up)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        _, seen = forward_capture(self.model, {"layer": self.layer}, x)
        a = seen["layer"]
        n, k = a.shape[:2]
        self.channels = k
        flat = a.flatten(2)
        live = (flat.amax(2) > flat.amin(2)).nonzero()
        logits = torch.empty(n, k, device=x.device)
        probs = torch.empty(n, k, device=x.device)
        zero_out = infer(self.model, torch.zeros_like(x[:1]))
        logits[:] = zero_out[0, target].view(n, 1)
        probs[:] = torch.softmax(zero_out[0], 0)[target].view(n, 1)
        if len(live):
            sample, channel = live[:, 0], live[:, 1]

            def score(start: int, stop: int) -> torch.Tensor:
                s, c = sample[start:stop], channel[start:stop]
                masks = self._masks(a[s, c], tuple(x.shape[2:]))
                out = infer(self.model, x[s] * masks.unsqueeze(1))
                t = target[s].view(-1, 1)
                return torch.stack([out.gather(1, t).squeeze(1), torch.softmax(out, 1).gather(1, t).squeeze(1)], 1)

            scored = run_chunked(score, len(live), chunk_size(x, self.memory_budget_mib))
            logits[sample, channel] = scored[:, 0]
            probs[sample, channel] = scored[:, 1]
        w = probs if self.weights == "probability" else torch.softmax(logits, 1)
        cam = (_expand(w, a) * a).sum(1)
        return torch.relu(cam) if self.relu else cam


class AblationCAM(Explainer):
    """Ablation-CAM (Desai & Ramaswamy 2020): w_k = (y_c - y_c^(k)) / y_c, y_c^(k) the target logit with channel k zeroed.

    map = relu(sum_k w_k A_k). The ablated activations are fed straight into the layers after the target
    layer (the layers before it run once). That this is exact is checked once per explainer, on the first
    batch of several samples, against the full forward pass; models where something after the layer
    reuses earlier tensors fall back to full passes.
    Cost: 1 forward pass plus K passes through the layers after the target layer per sample.
    """

    name, method, library = "inhouse.ablationcam", "ablationcam", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, memory_budget_mib: float = 0.0, relu: bool = True) -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        self.memory_budget_mib, self.relu = memory_budget_mib, relu
        self.channels: int | None = None
        self.shortcut_used: bool | None = None

    def passes(self) -> dict[str, int]:
        """1 forward pass and K passes of the layers after the target layer per sample (K full passes without the shortcut)."""
        k = self.channels or 0
        if self.shortcut_used is False:
            return {"forward": 1 + k, "backward": 0}
        return {"forward": 1, "head_forward": k, "backward": 0}

    def _head_is_separable(self, x: torch.Tensor, a: torch.Tensor) -> bool:
        probe = torch.cat([a, 0.5 * a.flip(0)])
        full = forward_replacing(self.model, self.layer, torch.cat([x, x.flip(0)]), probe)
        try:
            short = forward_replacing(self.model, self.layer, x[:1], probe)
        except RuntimeError:
            return False
        return short.shape == full.shape and torch.allclose(short, full, rtol=1e-4, atol=1e-5 * float(full.abs().max()) + 1e-7)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        out, seen = forward_capture(self.model, {"layer": self.layer}, x)
        a = seen["layer"]
        n, k = a.shape[:2]
        self.channels = k
        y = out.gather(1, target.view(-1, 1)).squeeze(1)
        if n == 1:
            shortcut = True  # every ablated item belongs to the one sample, so even a skip over the layer sees its own tensors
        else:
            if self.shortcut_used is None:
                self.shortcut_used = self._head_is_separable(x, a)
            shortcut = self.shortcut_used
        sample = torch.arange(n, device=x.device).repeat_interleave(k)
        channel = torch.arange(k, device=x.device).repeat(n)

        def ablate(start: int, stop: int) -> torch.Tensor:
            s, c = sample[start:stop], channel[start:stop]
            ablated = a[s].clone()
            ablated[torch.arange(len(s), device=x.device), c] = 0
            inputs = x[:1] if shortcut else x[s]
            return forward_replacing(self.model, self.layer, inputs, ablated).gather(1, target[s].view(-1, 1)).squeeze(1)

        budget = chunk_size(a, self.memory_budget_mib) if shortcut else chunk_size(x, self.memory_budget_mib)
        y_ablated = run_chunked(ablate, n * k, budget).view(n, k)
        tiny = torch.finfo(y.dtype).tiny
        w = (y.view(-1, 1) - y_ablated) / torch.where(y.abs() > tiny, y, torch.full_like(y, tiny)).view(-1, 1)
        cam = (_expand(w, a) * a).sum(1)
        return torch.relu(cam) if self.relu else cam
