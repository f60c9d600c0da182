"""Grad-CAM against CAM computed from the linear head: the identity of the Grad-CAM paper (Sec. 3.1)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from adapters.inhouse.gradient_cams import GradCAM
from tests.nets import gap_net, spatial_shape


def cam_from_weights(features: torch.Tensor, weights: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CAM (Zhou et al. 2016): sum_k w_ck A_k, computed directly from the head's weights."""
    return torch.einsum("nk,nk...->n...", weights[target], features)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_gradcam_equals_cam_over_z_on_gap_linear_head(rank: int) -> None:
    model = gap_net(rank)
    x = torch.randn(4, 3, *spatial_shape(rank), generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 1])
    with GradCAM(model, target_layer="3") as explainer:
        gradcam = explainer.attribute(x, target)
    features = model[:4](x).detach()
    z = features[0, 0].numel()
    expected = torch.relu(cam_from_weights(features, model[6].weight.detach(), target)) / z
    assert gradcam.shape == (4, *features.shape[2:])
    torch.testing.assert_close(gradcam, expected, atol=1e-5 * expected.abs().max().item(), rtol=0)
    assert gradcam.abs().max() > 0


def test_gradcam_equals_cam_on_torchvision_resnet() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x = torch.randn(2, 3, 96, 96)
    target = torch.tensor([1, 0])
    with GradCAM(model, target_layer="layer4") as explainer:
        gradcam = explainer.attribute(x, target)
    backbone = nn.Sequential(*list(model.children())[:-2])
    features = backbone(x).detach()
    expected = torch.relu(cam_from_weights(features, model.fc.weight.detach(), target)) / features[0, 0].numel()
    torch.testing.assert_close(gradcam, expected, atol=1e-5 * expected.abs().max().item(), rtol=0)


def test_signed_map_keeps_negative_evidence() -> None:
    model = gap_net(2)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 2])
    with GradCAM(model, target_layer="3", relu=False) as explainer:
        signed = explainer.attribute(x, target)
    features = model[:4](x).detach()
    expected = cam_from_weights(features, model[6].weight.detach(), target) / features[0, 0].numel()
    torch.testing.assert_close(signed, expected, atol=1e-6, rtol=1e-5)
    assert (signed < 0).any()


def test_layer_followed_by_inplace_operation() -> None:
    # bn2 of the last block is followed by an in-place residual addition in torchvision's BasicBlock.
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x = torch.randn(2, 3, 64, 64)
    with GradCAM(model, target_layer="layer4.1.bn2") as explainer:
        cam = explainer.attribute(x, torch.tensor([0, 1]))
    assert cam.shape == (2, 2, 2) and torch.isfinite(cam).all()


def test_default_layer_and_bad_layer_name() -> None:
    model = torchvision.models.resnet18(num_classes=2).eval()
    assert GradCAM(model).target_layer == "layer4"
    with pytest.raises(Exception, match=r"layer5.*did you mean.*layer4"):
        GradCAM(model, target_layer="layer5")


def test_target_out_of_range_leaves_no_trace() -> None:
    model = gap_net(2)
    with GradCAM(model, target_layer="3") as explainer, pytest.raises(RuntimeError):
        explainer.attribute(torch.randn(2, 3, 16, 16), torch.tensor([0, 7]))
    assert torch.is_grad_enabled()
    assert all(not m._forward_hooks for m in model.modules())
