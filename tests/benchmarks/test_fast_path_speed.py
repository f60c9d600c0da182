"""The forward-only fast path (bench/models/fast_path.py) against the plain no_grad forward, side by side in one run.

Run with `make benchmarks`; rows go to results/benchmarks/fast-path-cpu.md (fast-path-gpu.md on CUDA). Model: conftest's
seeded resnet18(num_classes=2) in eval mode (the weights do not change a forward's cost). Within a group both rows get the
same model and the same input; the fast path's row is the reference, so ratios above 1 mean the fast path is faster.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.models.fast_path import infer
from tests.benchmarks.report import Report, timed

BATCHES, SIDE, ROUNDS = (1, 2, 4, 8, 16), 224, 7
FAST, PLAIN = "fast path (inference mode, channels-last input)", "plain (no_grad, contiguous input)"


def _plain(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


CASES = [(f"forward, batch {b}", impl, b, run) for b in BATCHES for impl, run in ((FAST, infer), (PLAIN, _plain))]


def _notes(rows: list[dict]) -> list[str]:
    return [f"- Model: seeded torchvision resnet18(num_classes=2), eval mode; one forward of a batch of Bx3x{SIDE}x{SIDE}. "
            "Below bench.models.fast_path.MIN_BATCH the fast path keeps the contiguous layout (the reorder costs more than it "
            "saves there), so its rows for batches 1 and 2 measure inference mode alone.",
            "- Ratios are plain / fast path: above 1 the fast path is faster (time) or smaller (peak). The outputs agree to "
            "float round-off (tests/bench/models/test_fast_path.py).",
            "- load: the 1-minute load average when the benchmark finished; the benchmark itself contributes about "
            f"{torch.get_num_threads()} (torch threads)."]


REPORT = Report(stem="fast-path-", group="work", title="Speed benchmarks: the forward-only fast path against the plain forward",
                source="tests/benchmarks/test_fast_path_speed.py", packages=("torchvision", "pytest-benchmark"), notes=_notes)


@pytest.mark.parametrize("group, impl, batch, run", CASES, ids=[f"batch{b}-{'fast' if i == FAST else 'plain'}" for _, i, b, _ in CASES])
def test_fast_path_speed(group: str, impl: str, batch: int, run, benchmark, model: nn.Module, device: torch.device,
                         device_name: str) -> None:
    x = torch.randn(batch, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1)).to(device)
    benchmark.group = group
    benchmark.extra_info.update(implementation=impl, reference=impl == FAST, input=f"{batch}x3x{SIDE}x{SIDE}", device=device_name,
                                device_type=device.type)
    out = timed(benchmark, lambda: run(model, x), device=device, rounds=ROUNDS, model=model)
    assert torch.isfinite(out).all()
