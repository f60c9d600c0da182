"""Reduced precision: the device check, the autocast context and the agreement with float32, against scipy and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import spearmanr

from bench.core.errors import BenchError
from bench.models.precision import autocast, check_precision, precision_agreement


def test_float16_is_refused_off_cuda_and_unknown_precisions_everywhere() -> None:
    check_precision("bfloat16", torch.device("cpu"))
    check_precision("float16", torch.device("cuda"))
    with pytest.raises(BenchError, match="run.precision: float16 autocast runs on CUDA only"):
        check_precision("float16", torch.device("cpu"))
    with pytest.raises(BenchError, match="run.precision: 'tf32' is not one of"):
        check_precision("tf32", torch.device("cuda"))


def test_float32_leaves_the_passes_alone_and_bfloat16_autocasts_them() -> None:
    model, x = torchvision.models.resnet18(num_classes=2).eval(), torch.randn(2, 3, 32, 32)
    with torch.no_grad(), autocast("float32", torch.device("cpu")):
        assert model(x).dtype == torch.float32
    with torch.no_grad(), autocast("bfloat16", torch.device("cpu")):
        assert model(x).dtype == torch.bfloat16


def test_precision_agreement_is_spearman_and_the_relative_error_of_the_raw_maps() -> None:
    g = torch.Generator().manual_seed(0)
    full = torch.randn(4, 6, 5, generator=g)
    reduced = full + 0.1 * torch.randn(4, 6, 5, generator=g)
    reduced[1, 0, :3] = reduced[1, 0, 3]  # ties are ranked by their average, as scipy does
    full[3] = 0.0
    got = precision_agreement(reduced, full)
    for i in range(3):
        r, f = reduced[i].flatten().numpy(), full[i].flatten().numpy()
        assert got["float32_spearman"][i].item() == pytest.approx(spearmanr(r, f).statistic, abs=1e-12)
        assert got["float32_relative_error"][i].item() == pytest.approx(np.linalg.norm(r - f) / np.linalg.norm(f), rel=1e-6)
    assert torch.isnan(got["float32_spearman"][3]) and torch.isnan(got["float32_relative_error"][3])
