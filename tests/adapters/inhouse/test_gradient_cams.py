"""The gradient-weighted CAMs against direct evaluations of their papers' formulas.

Gradients here come from torch.func.jacrev of the head as a function of the activation tensor
(independent of the hooks the implementations use), and the formulas are written element by element.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adapters.inhouse.gradient_cams import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM


def tiny_net(smooth: bool) -> nn.Sequential:
    """Fixed weights: conv features (3 channels, 4x4), then a head; smooth=True puts a Softplus inside the head."""
    torch.manual_seed(11)
    features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU())
    head = [nn.Conv2d(3, 3, 1), nn.Softplus()] if smooth else []
    return nn.Sequential(features, *head, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)).eval()


def activation_and_grad(model: nn.Sequential, x: torch.Tensor, target: torch.Tensor):
    a = model[0](x).detach()
    head = model[1:]
    grads = []
    for n in range(len(x)):
        jac = torch.func.jacrev(lambda t: head(t.unsqueeze(0))[0, target[n]])(a[n])
        grads.append(jac)
    return a, torch.stack(grads).detach()


def reference(method: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    n, k, h, w = a.shape
    out = torch.zeros(n, h, w, dtype=torch.float64)
    a, g = a.double(), g.double()
    for i in range(n):
        for c in range(k):
            if method == "gradcam":
                out[i] += g[i, c].mean() * a[i, c]
            elif method == "gradcam++":
                weight = 0.0
                total = a[i, c].sum()
                for y in range(h):
                    for x in range(w):
                        gg = g[i, c, y, x]
                        denominator = 2 * gg**2 + total * gg**3
                        alpha = gg**2 / denominator if denominator != 0 else 0.0
                        weight += alpha * max(float(gg), 0.0)
                out[i] += weight * a[i, c]
            elif method == "xgradcam":
                total = a[i, c].sum()
                weight = (a[i, c] / total * g[i, c]).sum() if total != 0 else 0.0
                out[i] += weight * a[i, c]
            elif method == "layercam":
                out[i] += g[i, c].clamp(min=0) * a[i, c]
            elif method == "hirescam":
                out[i] += g[i, c] * a[i, c]
    return out.clamp(min=0).float()


CLASSES = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM, "layercam": LayerCAM, "hirescam": HiResCAM}


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("method", list(CLASSES))
def test_matches_the_paper_formula(method: str, smooth: bool) -> None:
    model = tiny_net(smooth)
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 1])
    a, g = activation_and_grad(model, x, target)
    got = CLASSES[method](model, target_layer="0").attribute(x, target)
    expected = reference(method, a, g)
    assert expected.abs().max() > 0
    torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-4)


def exact_gradcampp_alpha(model: nn.Sequential, a: torch.Tensor, target: int) -> torch.Tensor:
    """alpha from the general Grad-CAM++ formula with true second and third derivatives of Y = exp(S)."""
    head = model[1:]
    flat = a.flatten()

    def y(v: torch.Tensor) -> torch.Tensor:
        return torch.exp(head(v.view(1, *a.shape))[0, target])

    alphas = torch.zeros_like(flat)
    for e in range(len(flat)):
        def along(t: torch.Tensor) -> torch.Tensor:
            v = flat.clone()
            v[e] = t
            return y(v)
        t0 = flat[e].clone()
        d2 = torch.func.grad(torch.func.grad(along))(t0)
        d3 = torch.func.grad(torch.func.grad(torch.func.grad(along)))(t0)
        channel = e // (a.shape[1] * a.shape[2])
        total = a[channel].sum()
        alphas[e] = d2 / (2 * d2 + total * d3)
    return alphas.view_as(a)


def test_closed_form_gradcampp_assumes_a_piecewise_linear_head() -> None:
    """With a linear head the closed form is the general formula; with a smooth head second derivatives differ."""
    x = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    for smooth, should_match in ((False, True), (True, False)):
        model = tiny_net(smooth).double()
        a, g = activation_and_grad(model, x.double(), torch.tensor([1]))
        closed = g[0].pow(2) / (2 * g[0].pow(2) + a[0].sum((1, 2), keepdim=True) * g[0].pow(3))
        exact = exact_gradcampp_alpha(model, a[0], 1)
        assert torch.allclose(closed, exact, rtol=1e-6, atol=1e-9) == should_match


def test_gradcampp_has_no_fixed_epsilon() -> None:
    """With gradients near 1e-6 a fixed 1e-6 in the denominator (pytorch-grad-cam) swamps 2 G^2; ours follows the formula."""
    small = tiny_net(False)
    with torch.no_grad():
        small[-1].weight.mul_(1e-5)
        small[-1].bias.mul_(1e-5)
    x = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    target = torch.tensor([0, 1])
    a, g = activation_and_grad(small, x, target)
    expected = reference("gradcam++", a, g)
    got = GradCAMPlusPlus(small, target_layer="0").attribute(x, target)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4 * float(expected.abs().max()))
    g2 = g.pow(2)
    fixed_alpha = g2 / (2 * g2 + a.sum((2, 3), keepdim=True) * g.pow(3) + 1e-6)
    fixed = torch.relu(((fixed_alpha * torch.relu(g)).sum((2, 3), keepdim=True) * a).sum(1))
    assert float((fixed - expected).abs().max()) > 0.5 * float(expected.abs().max())
