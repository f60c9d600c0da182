"""Every core method on every model family: a finite map of the input's shape, or a clear refusal with its reason, never a crash."""

from __future__ import annotations

import pytest
import torch

from bench.core.conformance import FAMILIES, check_adapter, check_on_architecture

# The six core methods in every library that has them, with parameters that keep one call cheap.
CORE = {"inhouse.cam": {}, "captum.cam": {}, "inhouse.gradcam": {}, "captum.gradcam": {}, "gradcam.gradcam": {}, "inhouse.gradcam++": {},
        "gradcam.gradcam++": {}, "inhouse.scorecam": {}, "gradcam.scorecam": {"batch_size": 64}, "inhouse.integrated_gradients": {"steps": 4},
        "captum.integrated_gradients": {"steps": 4}, "inhouse.occlusion": {"window": 16, "stride": 16},
        "captum.occlusion": {"window": 16, "stride": 16}, "torchcam.cam": {}, "torchcam.gradcam": {}, "torchcam.gradcam++": {},
        "torchcam.scorecam": {"batch_size": 64}}
# What a refusal may say, by adapter: CAM needs a global-average-pooling + linear head; pytorch-grad-cam and TorchCAM have
# no 1-D support here.
REFUSALS = {"inhouse.cam": "global average", "captum.cam": "global average", "torchcam.cam": "global average", "gradcam.": "not 1",
            "torchcam.": "not 1"}


@pytest.mark.slow
@pytest.mark.parametrize("arch", list(FAMILIES))
@pytest.mark.parametrize("adapter", list(CORE))
def test_core_method_explains_or_clearly_refuses(adapter: str, arch: str) -> None:
    check = check_on_architecture(adapter, arch, params=CORE[adapter])
    assert check.status in ("pass", "skip"), check.detail
    if check.status == "skip":
        assert any(adapter.startswith(key) and reason in check.detail for key, reason in REFUSALS.items()), check.detail


def test_gap_heads_pass_cam_and_flatten_heads_refuse_it() -> None:
    assert check_on_architecture("inhouse.cam", "zoo:vgg7").status == "pass"
    refused = check_on_architecture("inhouse.cam", "zoo:mnist1d_cnn")
    assert refused.status == "skip" and "global average" in refused.detail
    assert check_on_architecture("gradcam.gradcam", "zoo:mnist1d_cnn").status == "skip"
    assert check_on_architecture("inhouse.gradcam", "zoo:mnist1d_cnn").status == "pass"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("adapter", ["inhouse.gradcam", "inhouse.scorecam", "inhouse.integrated_gradients", "inhouse.occlusion",
                                     "captum.gradcam", "gradcam.gradcam"])
def test_core_adapters_pass_conformance_on_cuda(adapter: str) -> None:
    checks = [c for c in check_adapter(adapter, devices=["cuda"]) if c.status == "fail"]
    assert checks == [], checks
