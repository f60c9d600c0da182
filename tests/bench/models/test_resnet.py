"""ResNet construction: head, batch-norm folding, local ImageNet weights."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from bench.core.errors import InputError
from bench.models.resnet import ModelSpec, build_model, normalise, remove_batchnorm


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_two_class_head_with_dropout(arch: str) -> None:
    model = build_model(ModelSpec(arch=arch, dropout=0.3))
    assert isinstance(model.fc[0], nn.Dropout) and model.fc[0].p == 0.3 and model.fc[1].out_features == 2
    assert not model.training
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)


def test_folding_batchnorm_preserves_the_function() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2)
    model.train()
    with torch.no_grad():  # give every BN non-trivial running statistics and affine parameters
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(4, 3, 64, 64)
    expected = model(x)
    folded = remove_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), expected, rtol=1e-4, atol=1e-4)


def test_batchnorm_removed_model_round_trips_its_state(tmp_path) -> None:
    spec = ModelSpec(batchnorm=False)
    a, b = build_model(spec), build_model(spec)
    b.load_state_dict(a.state_dict(), strict=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in a.modules())


def test_imagenet_weights_from_local_file(tmp_path) -> None:
    torch.manual_seed(1)
    donor = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(donor.state_dict(), path)
    model = build_model(ModelSpec(pretrained=str(path)))
    torch.testing.assert_close(model.conv1.weight, donor.conv1.weight)
    torch.testing.assert_close(model.layer4[1].bn2.running_var, donor.layer4[1].bn2.running_var)
    assert model.fc[1].out_features == 2


def test_missing_weights_file_is_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(InputError, match=r"nope\.pth.*pretrained.*IMAGENET1K_V1"):
        build_model(ModelSpec(pretrained=str(missing)))


def test_wrong_weights_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="not resnet18 ImageNet weights"):
        build_model(ModelSpec(pretrained=str(path)))


def test_normalise_uses_imagenet_statistics() -> None:
    images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalise(images)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]))
