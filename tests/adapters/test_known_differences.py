"""Agreement between implementations of one method, and the known differences pinned with their causes.

Each pin names the cause; if a library changes its behaviour, the pin fails and the README's
"Known differences" table needs an update.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from bench.core import registry
from bench.core.explainer import NotSupported, canonicalize
from bench.metrics.agreement import pair_agreement


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=2).eval()


X = torch.randn(3, 3, 128, 128, generator=torch.Generator().manual_seed(1))
T = torch.tensor([0, 1, 1])


def explain(name: str, model: nn.Module, x: torch.Tensor = X, target: torch.Tensor = T, **params) -> torch.Tensor:
    with registry.get(name)(model, target_layer="layer4", **params) as explainer:
        raw = explainer.attribute(x, target, seeds=torch.arange(len(x)))
    return canonicalize(raw, spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)


def agree(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    r = pair_agreement(a, b)
    return float(r["pearson"].min()), float(r["max_abs_diff"].max())


@pytest.mark.parametrize("method,others", [
    ("gradcam", ["captum.gradcam", "gradcam.gradcam", "torchcam.gradcam"]),
    ("cam", ["captum.cam", "torchcam.cam"]),
    ("xgradcam", ["gradcam.xgradcam", "torchcam.xgradcam"]), ("layercam", ["gradcam.layercam", "torchcam.layercam"]),
    ("hirescam", ["gradcam.hirescam"]),
    ("ablationcam", ["gradcam.ablationcam"]),
    ("saliency", ["captum.saliency"]), ("gradient_x_input", ["captum.gradient_x_input"]),
    ("guided_backprop", ["captum.guided_backprop", "gradcam.guided_backprop"]),
])
def test_same_formula_same_map(resnet, method: str, others: list[str]) -> None:
    ours = explain(f"inhouse.{method}", resnet)
    for other in others:
        pearson, diff = agree(ours, explain(other, resnet))
        assert pearson >= 0.999 and diff < 1e-3, other


def test_integrated_gradients_and_occlusion_match_captum_at_equal_settings(resnet) -> None:
    for rule in ("riemann_trapezoid", "gausslegendre"):
        pearson, diff = agree(explain("inhouse.integrated_gradients", resnet, steps=16, rule=rule),
                              explain("captum.integrated_gradients", resnet, steps=16, rule=rule))
        assert pearson >= 0.9999 and diff < 1e-2
    pearson, diff = agree(explain("inhouse.occlusion", resnet, window=32, stride=16), explain("captum.occlusion", resnet, window=32, stride=16))
    assert pearson >= 0.9999 and diff < 1e-4


def test_gradcampp_pytorch_grad_cam_fixed_epsilon(resnet) -> None:
    """pytorch-grad-cam adds 1e-6 to the alpha denominator: negligible for ordinary gradients, not for small ones."""
    normal = agree(explain("inhouse.gradcam++", resnet), explain("gradcam.gradcam++", resnet))
    small = torchvision.models.resnet18(num_classes=2).eval()
    small.load_state_dict(resnet.state_dict())
    with torch.no_grad():
        small.fc.weight.mul_(1e-4)
        small.fc.bias.mul_(1e-4)
    tiny = agree(explain("inhouse.gradcam++", small), explain("gradcam.gradcam++", small))
    assert normal[0] > 0.995 and tiny[1] > 0.05 and tiny[0] < normal[0]


def test_scorecam_weights_and_upsampling() -> None:
    """Paper weights (class probability) differ from pytorch-grad-cam's channel softmax; with its variant and its
    align_corners=True upsampling our Score-CAM reproduces it."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x, t = X[:2, :, :64, :64].contiguous(), T[:2]
    theirs = explain("gradcam.scorecam", model, x, t)
    same = agree(explain("inhouse.scorecam", model, x, t, weights="channel_softmax", align_corners=True), theirs)
    paper = agree(explain("inhouse.scorecam", model, x, t), theirs)
    assert same[0] >= 0.9999 and same[1] < 1e-3
    assert paper[0] < 0.999


def test_torchcam_scorecam_is_the_channel_softmax_variant_with_align_corners_false() -> None:
    """TorchCAM subtracts p(x) before its channel softmax (which cancels) and upsamples with align_corners=False."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x, t = X[:2, :, :64, :64].contiguous(), T[:2]
    theirs = explain("torchcam.scorecam", model, x, t)
    same = agree(explain("inhouse.scorecam", model, x, t, weights="channel_softmax", align_corners=False), theirs)
    assert same[0] >= 0.9999 and same[1] < 1e-3
    assert agree(explain("inhouse.scorecam", model, x, t), theirs)[0] < 0.999


def test_torchcam_gradcampp_alpha_is_the_squared_gradient_undivided(resnet) -> None:
    """TorchCAM 0.5 divides alpha in place on a boolean-indexed copy (alpha[mask].div_), so the division never reaches
    alpha: its weights are sum_ij G^2 relu(G), not the closed form's alpha = G^2 / (2 G^2 + sum A G^3)."""
    from adapters.inhouse.gradient_cams import layer_activation_and_gradient

    a, g = layer_activation_and_gradient(resnet, resnet.layer4, X, T)
    undivided = torch.relu(((g.pow(2) * torch.relu(g)).sum((2, 3), keepdim=True) * a).sum(1))
    with registry.get("torchcam.gradcam++")(resnet, target_layer="layer4") as explainer:
        theirs = explainer.attribute(X, T)
    torch.testing.assert_close(theirs, undivided, rtol=1e-4, atol=1e-6 * float(undivided.abs().max()))
    assert agree(explain("inhouse.gradcam++", resnet), explain("torchcam.gradcam++", resnet))[0] < 0.9999


def test_eigencam_centring_and_sign(resnet) -> None:
    """pytorch-grad-cam centres the activations before the SVD; the paper (our default) does not."""
    theirs = explain("gradcam.eigencam", resnet)
    centred = pair_agreement(explain("inhouse.eigencam", resnet, center=True), theirs)
    assert float(centred["pearson"].abs().min()) >= 0.999  # equal up to the SVD's arbitrary sign, which we fix
    assert agree(explain("inhouse.eigencam", resnet), theirs)[0] < 0.99


def test_captum_guided_gradcam_upsamples_nearest(resnet) -> None:
    nearest = agree(explain("inhouse.guided_gradcam", resnet), explain("captum.guided_gradcam", resnet))
    bilinear = agree(explain("inhouse.guided_gradcam", resnet), explain("captum.guided_gradcam", resnet, interpolate_mode="bilinear"))
    assert bilinear[0] >= 0.9999 and nearest[0] < 0.999


def test_captum_guided_backprop_is_the_plain_gradient_on_functional_relu() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(3)
            self.conv, self.fc = nn.Conv2d(3, 8, 3), nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(nn.functional.relu(self.conv(x)).mean((2, 3)))

    model = Functional().eval()
    x, t = torch.randn(2, 3, 12, 12), torch.tensor([0, 1])
    captum_map = registry.get("captum.guided_backprop")(model).attribute(x, t)
    plain = registry.get("inhouse.saliency")(model, abs=False).attribute(x, t)
    ours = registry.get("inhouse.guided_backprop")(model).attribute(x, t)
    torch.testing.assert_close(captum_map, plain)
    assert not torch.allclose(ours, plain)


@pytest.mark.parametrize("name", ["captum.deeplift", "captum.lrp"])
def test_deeplift_and_lrp_refuse_torchvision_resnets(resnet, name: str) -> None:
    with pytest.raises(NotSupported, match="not supported for ResNet"):
        explain(name, resnet)


def test_pytorch_grad_cam_truncates_short_target_lists_and_we_refuse(resnet) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=resnet, target_layers=[resnet.layer4]) as cam:
        maps = cam(input_tensor=X[:2], targets=[ClassifierOutputTarget(1)])
    assert maps.shape[0] == 2  # two maps from one target: the second sample's target was silently dropped
    with pytest.raises(ValueError, match="one target per sample"):
        explain("gradcam.gradcam", resnet, X[:2], T[:1])
