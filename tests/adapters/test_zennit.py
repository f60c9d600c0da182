"""Zennit LRP: LRP-0 equals gradient x input on a bias-free ReLU network (and conserves the logit), and the ResNet
canonizer lets it explain torchvision ResNets, which Captum's LRP refuses."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from bench.core import registry


def _bias_free_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(8, 6, 3, padding=1, bias=False), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3, bias=False)).eval()


def test_lrp_epsilon_is_gradient_times_input_on_a_bias_free_relu_network() -> None:
    model, x, target = _bias_free_net(), torch.randn(4, 3, 12, 12, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 1])
    leaf = x.clone().requires_grad_(True)
    logits = model(leaf).gather(1, target.view(-1, 1)).squeeze(1)
    (grad,) = torch.autograd.grad(logits.sum(), leaf)
    with registry.get("zennit.lrp")(model, composite="epsilon", epsilon=1e-9) as explainer:
        relevance = explainer.attribute(x, target)
        conservation = explainer.diagnostics()["conservation_error"]
    # The relevance entering the network is the target logit, so LRP-0 gives the logit times nothing but the path weights.
    torch.testing.assert_close(relevance, grad * x, rtol=1e-4, atol=1e-6)
    assert conservation.max() < 1e-4


@pytest.mark.parametrize("composite", ["epsilon", "gamma", "alpha1beta0", "epsilon_plus_flat"])
def test_every_composite_explains_a_resnet_and_leaves_it_as_it_was(composite: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3).eval()
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, target = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 2])
    with registry.get("zennit.lrp")(model, composite=composite) as explainer:
        relevance = explainer.attribute(x, target)
        conservation = explainer.diagnostics()["conservation_error"]
    assert relevance.shape == x.shape and torch.isfinite(relevance).all() and relevance.abs().sum() > 0
    # Merged batch norm puts biases into the convolutions, which absorb relevance: conservation is recorded, not exact.
    assert conservation.shape == (2,) and torch.isfinite(conservation).all() and (conservation > 0).all()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_unknown_composite_is_refused() -> None:
    with pytest.raises(ValueError, match="composite must be one of"):
        registry.get("zennit.lrp")(_bias_free_net(), composite="zplus")
