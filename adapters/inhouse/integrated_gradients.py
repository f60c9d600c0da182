"""Integrated Gradients (Sundararajan et al. 2017) with Riemann and Gauss-Legendre rules."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from adapters.inhouse.input_gradients import InputGradientMethod, input_gradient
from bench.metrics.reference_inputs import reference_input
from bench.models.fast_path import infer
from bench.utils.chunking import chunk_size, run_chunked

RULES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def quadrature(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes alpha in [0,1] and weights summing to 1 for the path integral, as Captum defines its rules."""
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if rule == "riemann_trapezoid":
        nodes = np.linspace(0, 1, steps)
        weights = np.full(steps, 1 / (steps - 1)) if steps > 1 else np.ones(1)
        weights[[0, -1]] /= 2 if steps > 1 else 1
        return nodes, weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}.get(rule)
    if offset is None:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    return (np.arange(steps) + offset) / steps, np.full(steps, 1 / steps)


class IntegratedGradients(InputGradientMethod):
    """(x - x') * sum_i w_i dF(x' + a_i (x - x'))/dx over the rule's nodes a_i; F the target logit.

    After each call, completeness_error holds |sum(attribution) - (F(x) - F(x'))| / |F(x) - F(x')| per
    sample (the axiom the rule approximates). Cost: steps forward and steps backward passes per sample
    plus 2 forward passes for the completeness check.
    """

    name, method = "inhouse.integrated_gradients", "integrated_gradients"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, steps: int = 50, rule: str = "gausslegendre",
                 baseline: str = "zero", memory_budget_mib: float = 0.0) -> None:
        super().__init__(model, target_layer=None)
        if steps < 1 or (rule == "riemann_trapezoid" and steps < 2):
            raise ValueError(f"steps must be >= {2 if rule == 'riemann_trapezoid' else 1}, got {steps}")
        self.nodes, self.weights = quadrature(rule, steps)
        self.steps, self.rule, self.baseline, self.memory_budget_mib = steps, rule, baseline, memory_budget_mib
        self.completeness_error: torch.Tensor | None = None

    def passes(self) -> dict[str, int]:
        """steps forward and backward passes per sample, plus 2 forward passes for the completeness check."""
        return {"forward": self.steps + 2, "backward": self.steps}

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """The completeness error of the last call, per sample."""
        return {} if self.completeness_error is None else {"completeness_error": self.completeness_error}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        base = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        delta = x - base
        n, m = x.shape[0], self.steps
        alphas = torch.as_tensor(self.nodes, dtype=x.dtype, device=x.device)
        weights = torch.as_tensor(self.weights, dtype=x.dtype, device=x.device)
        sample = torch.arange(n, device=x.device).repeat_interleave(m)
        step = torch.arange(m, device=x.device).repeat(n)
        shape = (-1,) + (1,) * (x.ndim - 1)

        def weighted_grads(start: int, stop: int) -> torch.Tensor:
            s, i = sample[start:stop], step[start:stop]
            points = base[s] + alphas[i].view(shape) * delta[s]
            grad, _ = input_gradient(self.model, points, target[s])
            return grad * weights[i].view(shape)

        grads = run_chunked(weighted_grads, n * m, chunk_size(x, self.memory_budget_mib, backward=True))
        attribution = delta * grads.view(n, m, *x.shape[1:]).sum(1)
        ends = infer(self.model, torch.cat([x, base])).gather(1, target.repeat(2).view(-1, 1)).squeeze(1)
        gap = ends[:n] - ends[n:]
        self.completeness_error = ((attribution.flatten(1).sum(1) - gap).abs() / gap.abs().clamp_min(1e-12)).detach()
        return attribution
