"""Model sources: torchvision classifiers by name, our zoo, a user's factory; heads, channels, batch norm, local ImageNet weights."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torchvision
from torch import nn

from bench.core.errors import InputError
from bench.models.builders import ModelSpec, build_model, imagenet_file
from bench.models.layers import default_layer, resolve_layer

FAMILIES = {"resnet18": "fc.1", "vgg11_bn": "classifier.6.1", "densenet121": "classifier.1", "mobilenet_v3_small": "classifier.3.1",
            "efficientnet_b0": "classifier.1.1", "convnext_tiny": "classifier.2.1"}


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_resnet_head_is_dropout_then_linear_for_the_classes(arch: str) -> None:
    model = build_model(ModelSpec(arch=arch, dropout=0.3, num_classes=5))
    assert isinstance(model.fc[0], nn.Dropout) and model.fc[0].p == 0.3 and model.fc[1].out_features == 5
    assert not model.training
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


@pytest.mark.parametrize("arch", list(FAMILIES))
def test_every_family_gets_a_k_class_head_and_its_default_layer_exists(arch: str) -> None:
    model = build_model(ModelSpec(arch=arch, num_classes=7, input_shape=(64, 64)))
    head = model.get_submodule(FAMILIES[arch])
    assert isinstance(head, nn.Linear) and head.out_features == 7
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    name, layer = resolve_layer(model, None)
    assert name == default_layer(model) and isinstance(layer, nn.Module)


def test_prefixed_torchvision_name_equals_the_bare_one() -> None:
    torch.manual_seed(0)
    a = build_model(ModelSpec(arch="torchvision:vgg11"))
    torch.manual_seed(0)
    b = build_model(ModelSpec(arch="vgg11"))
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_batchnorm_false_removes_every_batchnorm_and_round_trips_its_state() -> None:
    for arch in ("resnet18", "vgg11_bn"):
        spec = ModelSpec(arch=arch, batchnorm=False)
        a, b = build_model(spec), build_model(spec)
        b.load_state_dict(a.state_dict(), strict=True)
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in a.modules())


def test_one_channel_inputs_reach_a_torchvision_model() -> None:
    model = build_model(ModelSpec(arch="resnet18", channels=1, num_classes=3))
    assert model.conv1.in_channels == 1
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)


def test_torchvision_refuses_signals_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="2 spatial axes"):
        build_model(ModelSpec(arch="resnet18", input_shape=(40,)))
    with pytest.raises(ValueError, match="no classifier 'resnet19'"):
        build_model(ModelSpec(arch="resnet19"))


@pytest.mark.parametrize("arch", ["resnet18", "vgg11"])
def test_imagenet_weights_from_a_local_file_fill_all_but_the_head(tmp_path, arch: str) -> None:
    torch.manual_seed(1)
    donor = torchvision.models.get_model(arch, weights=None)
    path = tmp_path / imagenet_file(arch)
    torch.save(donor.state_dict(), path)
    model = build_model(ModelSpec(arch=arch, pretrained=str(path), num_classes=4))
    body = {k: v for k, v in donor.state_dict().items() if not k.startswith(("fc.", "classifier.6."))}
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in body.items())
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4)


def test_missing_weights_file_names_the_file_and_how_to_get_it(tmp_path) -> None:
    with pytest.raises(InputError, match=r"nope\.pth.*pretrained.*vgg16_bn-6c64b313\.pth"):
        build_model(ModelSpec(arch="vgg16_bn", pretrained=str(tmp_path / "nope.pth")))


def test_weights_of_another_architecture_are_refused(tmp_path) -> None:
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(InputError, match="not resnet18 ImageNet weights"):
        build_model(ModelSpec(pretrained=str(path)))


def test_zoo_models_take_the_data_layout() -> None:
    model = build_model(ModelSpec(arch="zoo:mnist1d_cnn", num_classes=10, channels=1, input_shape=(40,)))
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)
    assert default_layer(model) == "features"
    vgg7 = build_model(ModelSpec(arch="zoo:vgg7", num_classes=8, input_shape=(48, 48), params={"widths": [8, 8, 16, 16, 16, 16]}))
    assert vgg7(torch.randn(1, 3, 48, 48)).shape == (1, 8)
    with pytest.raises(ValueError, match="input shape"):
        build_model(ModelSpec(arch="zoo:plain_cnn"))


def test_a_users_factory_is_called_with_the_layout_it_accepts(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_models.py").write_text(textwrap.dedent('''
        from torch import nn

        def tiny(num_classes, in_channels, width=4):
            return nn.Sequential(nn.Conv1d(in_channels, width, 3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                                 nn.Linear(width, num_classes))

        def not_a_model():
            return 3
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model(ModelSpec(arch="python:my_models:tiny", num_classes=6, channels=2, input_shape=(20,), params={"width": 5}))
    assert model(torch.randn(2, 2, 20)).shape == (2, 6) and model[0].out_channels == 5
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        build_model(ModelSpec(arch="python:my_models:not_a_model"))
    with pytest.raises(ValueError, match="cannot import"):
        build_model(ModelSpec(arch="python:my_models:absent"))
