"""Sensitivity and infidelity: analytic cases on linear models and Captum's implementations on the same perturbations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.core.explainer import canonicalize
from bench.metrics import MetricContext
from bench.metrics.robustness import AvgSensitivity, Infidelity, MaxSensitivity, gaussian_noise, uniform_noise
from tests.nets import gap_net


def linear(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(1 * 6 * 6, 3)).eval()


def explain_with(name: str, model: nn.Module, **params):
    from bench.core import registry

    explainer = registry.get(name)(model, **params)

    def explain(x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return canonicalize(explainer.attribute(x, target, seeds=seeds), spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)

    return explain


def make_ctx(model: nn.Module, x: torch.Tensor, target: torch.Tensor, explain) -> MetricContext:
    return MetricContext(maps=explain(x, target), x=x, target=target, model=model, seeds=torch.arange(len(x)) + 100, explain=explain)


def test_sensitivity_of_gradient_x_input_on_a_linear_model_is_analytic() -> None:
    model = linear()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 2])
    ctx = make_ctx(model, x, target, explain_with("inhouse.gradient_x_input", model))
    noise = uniform_noise(ctx, 10, 0.02).view(2, 10, 6, 6)
    w = model[1].weight.detach()[target].view(2, 1, 6, 6)
    ratios = (w * noise).flatten(2).norm(dim=2) / (w[:, 0] * x[:, 0]).flatten(1).norm(dim=1, keepdim=True)
    torch.testing.assert_close(MaxSensitivity()(ctx), ratios.amax(1), rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(AvgSensitivity()(ctx), ratios.mean(1), rtol=1e-4, atol=1e-7)
    assert float(noise.abs().max()) <= 0.02


def test_saliency_of_a_linear_model_is_perfectly_stable() -> None:
    model = linear()
    x = torch.rand(2, 1, 6, 6)
    ctx = make_ctx(model, x, torch.tensor([1, 0]), explain_with("inhouse.saliency", model, abs=False))
    assert MaxSensitivity()(ctx).abs().max() < 1e-6


def test_max_sensitivity_equals_captum_on_the_same_perturbations() -> None:
    from captum.metrics import sensitivity_max

    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 2])
    explain = explain_with("inhouse.gradcam", model, target_layer="3")
    ctx = make_ctx(model, x, target, explain)
    noise = uniform_noise(ctx, 10, 0.02)
    # Captum passes a tuple of inputs and expects a tuple back.
    theirs = sensitivity_max(lambda inputs, target: (explain(inputs[0] if isinstance(inputs, tuple) else inputs, target),), x,
                             perturb_func=lambda inputs, radius: inputs + noise, n_perturb_samples=10, target=target)
    torch.testing.assert_close(MaxSensitivity()(ctx), theirs.float(), rtol=1e-5, atol=1e-6)


def test_infidelity_is_zero_for_the_exact_attribution_of_a_linear_logit() -> None:
    model = linear()
    x = torch.rand(2, 1, 6, 6)
    target = torch.tensor([2, 1])
    w = model[1].weight.detach()[target].view(2, 6, 6)
    exact = MetricContext(maps=w, x=x, target=target, model=model, seeds=torch.tensor([5, 6]))
    assert Infidelity()(exact).abs().max() < 1e-10
    silent = MetricContext(maps=torch.zeros(2, 6, 6), x=x, target=target, model=model, seeds=torch.tensor([5, 6]))
    noise = gaussian_noise(silent, 10, 0.003).view(2, 10, 6, 6)
    expected = (noise * w.unsqueeze(1)).flatten(2).sum(2).double().pow(2).mean(1)
    torch.testing.assert_close(Infidelity()(silent).double(), expected, rtol=1e-4, atol=1e-12)
    assert math.isclose(float(noise.std()), 0.003, rel_tol=0.15)


def test_infidelity_equals_captum_on_the_same_perturbations() -> None:
    from captum.metrics import infidelity

    model = gap_net(2)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    target = torch.tensor([1, 2])
    maps = explain_with("inhouse.gradcam", model, target_layer="3")(x, target)
    ctx = MetricContext(maps=maps, x=x, target=target, model=model, seeds=torch.tensor([8, 9]))
    noise = gaussian_noise(ctx, 10, 0.003)
    theirs = infidelity(model, lambda inputs: (noise, inputs - noise), x, maps.unsqueeze(1).expand_as(x).contiguous(),
                        target=target, n_perturb_samples=10)
    torch.testing.assert_close(Infidelity()(ctx), theirs.float(), rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("metric", [MaxSensitivity(samples=2), AvgSensitivity(samples=2)])
def test_zero_map_sensitivity_is_undefined(metric) -> None:
    model = linear()
    x = torch.rand(1, 1, 6, 6)
    ctx = MetricContext(maps=torch.zeros(1, 6, 6), x=x, target=torch.tensor([0]), model=model, explain=lambda a, t, s=None: torch.zeros(len(a), 6, 6))
    assert math.isnan(metric(ctx).item())
