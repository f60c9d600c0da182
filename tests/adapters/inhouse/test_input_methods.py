"""Integrated Gradients, Occlusion, guided backpropagation, noise tunnels, Gradient SHAP and RISE against their definitions."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from adapters.inhouse.gradient_shap import GradientSHAP
from adapters.inhouse.guided import GuidedBackprop, GuidedGradCAM
from adapters.inhouse.input_gradients import GradientXInput, Saliency
from adapters.inhouse.integrated_gradients import RULES, IntegratedGradients, quadrature
from adapters.inhouse.noise_tunnel import SmoothGrad, SmoothGradSquared, VarGrad
from adapters.inhouse.occlusion import Occlusion
from adapters.inhouse.rise import RISE, rise_masks
from bench.core.errors import BenchError
from tests.nets import gap_net


def linear_model(channels: int = 3, size: int = 6, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 2)).eval()


@pytest.mark.parametrize("rule", RULES)
def test_quadrature_rules_integrate_polynomials(rule: str) -> None:
    nodes, weights = quadrature(rule, 64)
    assert weights.sum() == pytest.approx(1.0)
    exact_degree = {"gausslegendre": 2 * 64 - 1, "riemann_trapezoid": 1, "riemann_middle": 1}.get(rule, 0)
    for degree in range(min(exact_degree, 6) + 1):
        assert (weights * nodes**degree).sum() == pytest.approx(1 / (degree + 1), rel=1e-9)


@pytest.mark.parametrize("rule", RULES)
def test_ig_is_exact_on_a_linear_model(rule: str) -> None:
    model = linear_model()
    x = torch.randn(3, 3, 6, 6)
    target = torch.tensor([0, 1, 1])
    ig = IntegratedGradients(model, steps=4, rule=rule, baseline="mean")
    got = ig.attribute(x, target)
    base = x.mean((2, 3), keepdim=True)
    expected = (x - base) * model[1].weight[target].view(3, 3, 6, 6)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-4, atol=1e-5)
    assert float(ig.completeness_error.max()) < 1e-4


def trained_cnn() -> nn.Sequential:
    """A small non-linear CNN trained to tell which half of an image is brighter (checked to have learnt it)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Softplus(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 2))
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(1)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.rand(n, 1, 12, 12, generator=gen)
        return x, (x[..., :6].mean((1, 2, 3)) > x[..., 6:].mean((1, 2, 3))).long()

    for _ in range(300):
        x, y = batch(32)
        loss = nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    x, y = batch(256)
    assert (model(x).argmax(1) == y).float().mean() > 0.8  # chance is 0.5
    return model.eval()


def test_ig_completeness_within_one_percent_at_256_steps_on_a_trained_model() -> None:
    model = trained_cnn()
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    target = model(x).argmax(1)
    for rule in ("gausslegendre", "riemann_trapezoid"):
        ig = IntegratedGradients(model, steps=256, rule=rule)
        attribution = ig.attribute(x, target)
        with torch.no_grad():
            gap = model(x).gather(1, target.view(-1, 1)).squeeze(1) - model(torch.zeros_like(x)).gather(1, target.view(-1, 1)).squeeze(1)
        error = (attribution.sum((1, 2, 3)) - gap).abs() / gap.abs()
        assert float(error.max()) < 0.01
        torch.testing.assert_close(ig.completeness_error, error)
    coarse = IntegratedGradients(model, steps=2, rule="riemann_left")
    coarse.attribute(x, target)
    assert float(coarse.completeness_error.max()) > 0.01  # the check can fail


def test_occlusion_on_a_linear_model_is_analytic() -> None:
    model = linear_model(size=8)
    x = torch.randn(2, 3, 8, 8)
    target = torch.tensor([1, 0])
    window, stride = 3, 2
    got = Occlusion(model, window=window, stride=stride, memory_budget_mib=0.01).attribute(x, target)
    w = model[1].weight.detach()[target].view(2, 3, 8, 8)
    contribution = (w * x).sum(1)  # a window set to zero removes sum over its pixels and channels of w * x
    expected = torch.zeros(2, 8, 8)
    count = torch.zeros(8, 8)
    starts = range(0, 8 - window + 1, stride)
    for r, c in itertools.product(starts, starts):
        drop = contribution[:, r:r + window, c:c + window].sum((1, 2))
        expected[:, r:r + window, c:c + window] += drop.view(2, 1, 1)
        count[r:r + window, c:c + window] += 1
    expected = torch.where(count > 0, expected / count.clamp_min(1), torch.zeros_like(expected))
    assert (count == 0).any()  # the last column/row is not covered with these settings: it must get 0
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


class MLP(nn.Module):
    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.functional = functional
        self.fc1, self.fc2, self.act = nn.Linear(4, 3), nn.Linear(3, 2), nn.ReLU()
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.5, 0.5, -1.0, 1.0], [-1.0, 2.0, 0.0, 1.0]]))
            self.fc1.bias.zero_()
            self.fc2.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [-1.0, 1.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x.flatten(1))
        return self.fc2(nn.functional.relu(h) if self.functional else self.act(h))


@pytest.mark.parametrize("functional", [False, True])
def test_guided_backprop_by_hand(functional: bool) -> None:
    model = MLP(functional).eval()
    x = torch.tensor([[[1.0, 1.0, 1.0, 1.0]]])  # hidden pre-activations: 1.5, 1.0, 2.0 (all active)
    target = torch.tensor([0])
    got = GuidedBackprop(model).attribute(x, target)
    w1, w2 = model.fc1.weight.detach(), model.fc2.weight.detach()
    guided = w1.T @ w2[0].clamp(min=0)  # negative upstream gradients are cut at the ReLU
    plain = w1.T @ w2[0]
    torch.testing.assert_close(got.view(-1), guided)
    assert not torch.allclose(got.view(-1), plain)
    torch.testing.assert_close(Saliency(model, abs=False).attribute(x, target).view(-1), plain)


def test_guided_backprop_refuses_a_model_without_relu() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Tanh()).eval()
    with pytest.raises(BenchError, match="no ReLU"):
        GuidedBackprop(model).attribute(torch.randn(1, 1, 4), torch.tensor([0]))


def test_guided_gradcam_is_the_product() -> None:
    model = gap_net(2)
    x = torch.randn(2, 3, 16, 16)
    target = torch.tensor([1, 2])
    from adapters.inhouse.gradient_cams import GradCAM

    cam = nn.functional.interpolate(GradCAM(model, target_layer="3").attribute(x, target).unsqueeze(1), size=(16, 16), mode="bilinear", align_corners=False)
    expected = GuidedBackprop(model).attribute(x, target) * cam
    torch.testing.assert_close(GuidedGradCAM(model, target_layer="3").attribute(x, target), expected)


def test_noise_tunnels_without_noise_reduce_to_the_base_method() -> None:
    model = gap_net(2)
    x = torch.randn(2, 3, 16, 16)
    target = torch.tensor([0, 1])
    base = GradientXInput(model).attribute(x, target)
    kwargs = {"base": "inhouse.gradient_x_input", "samples": 3, "noise_level": 0.0}
    torch.testing.assert_close(SmoothGrad(model, **kwargs).attribute(x, target), base)
    torch.testing.assert_close(SmoothGradSquared(model, **kwargs).attribute(x, target), base.pow(2))
    assert float(VarGrad(model, **kwargs).attribute(x, target).abs().max()) < 1e-10


def test_smoothgrad_of_a_linear_model_is_its_gradient_and_vargrad_sees_the_noise() -> None:
    model = linear_model()
    x = torch.randn(2, 3, 6, 6)
    target = torch.tensor([0, 1])
    seeds = torch.tensor([3, 4])
    smooth = SmoothGrad(model, base="inhouse.saliency", base_params={"abs": False}, samples=8).attribute(x, target, seeds=seeds)
    torch.testing.assert_close(smooth, model[1].weight.detach()[target].view(2, 3, 6, 6))
    var = VarGrad(model, base="inhouse.gradient_x_input", samples=64, noise_level=0.1).attribute(x, target, seeds=seeds)
    sigma = 0.1 * (x.flatten(1).amax(1) - x.flatten(1).amin(1))
    w = model[1].weight.detach()[target].view(2, 3, 6, 6)
    expected = (w * sigma.view(2, 1, 1, 1)).pow(2)  # Var(w * (x + e)) = w^2 sigma^2
    assert float((var.mean() / expected.mean() - 1).abs()) < 0.2


def test_gradient_shap_with_a_zero_reference_is_monte_carlo_ig() -> None:
    model = linear_model()
    x = torch.randn(2, 3, 6, 6)
    target = torch.tensor([1, 0])
    got = GradientSHAP(model, samples=5, references="zero").attribute(x, target, seeds=torch.tensor([1, 2]))
    torch.testing.assert_close(got, (x * model[1].weight.detach()[target].view(2, 3, 6, 6)))


def test_rise_equals_the_explicit_weighted_average_and_localises() -> None:
    class RegionModel(nn.Module):
        """Probability of class 0 is the mean of the input over a fixed region."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            v = x[:, 0, 2:6, 2:6].mean((1, 2)).clamp(1e-4, 1 - 1e-4)
            return torch.stack([v.log(), (1 - v).log()], 1)

    model = RegionModel()
    x = torch.ones(2, 1, 12, 12)
    rise = RISE(model, masks=300, cell=4, seed=1, memory_budget_mib=0.01)
    got = rise.attribute(x, torch.tensor([0, 0]))
    masks = rise_masks(300, (12, 12), 4, 0.5, 1, torch.device("cpu"))
    expected = sum(masks[i, 2:6, 2:6].mean() * masks[i] for i in range(300)) / (300 * 0.5)
    torch.testing.assert_close(got[0], expected, rtol=1e-4, atol=1e-5)
    inside, outside = got[0, 2:6, 2:6].mean(), got[0, 8:, 8:].mean()
    assert inside > 1.2 * outside


@pytest.mark.parametrize("cls,params", [
    (IntegratedGradients, {"steps": 7}), (Occlusion, {"window": 5, "stride": 3}), (RISE, {"masks": 40}),
    (SmoothGrad, {"samples": 5}), (GradientSHAP, {"samples": 5, "stdev": 0.1}),
])
def test_chunk_size_does_not_change_the_map(cls, params) -> None:
    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    target = torch.tensor([0, 1, 2])
    seeds = torch.tensor([5, 6, 7])
    small = cls(model, memory_budget_mib=0.005, **params).attribute(x, target, seeds=seeds)
    large = cls(model, memory_budget_mib=4096, **params).attribute(x, target, seeds=seeds)
    torch.testing.assert_close(small, large, rtol=1e-5, atol=1e-6)
