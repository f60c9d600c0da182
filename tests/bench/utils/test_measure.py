"""Runtime and memory measurement."""

from __future__ import annotations

import time

import pytest
import torch

from bench.utils.measure import cpu_memory_supported, peak_memory_mib, time_call


def test_time_call_reports_per_sample_milliseconds() -> None:
    timing = time_call(lambda: time.sleep(0.02), device=torch.device("cpu"), batch_size=4, warmup=1, repeats=3)
    assert 4.5 < timing.median_ms < 15 and timing.iqr_ms >= 0 and timing.repeats == 3


@pytest.mark.skipif(not cpu_memory_supported(), reason="needs /proc/self/clear_refs (Linux)")
def test_cpu_peak_sees_a_temporary_allocation() -> None:
    def allocate(mib: int) -> None:
        block = torch.ones(mib * 2**20 // 4)
        block += 1  # touch every page
        del block

    big = peak_memory_mib(lambda: allocate(200), device=torch.device("cpu"))
    small = peak_memory_mib(lambda: allocate(20), device=torch.device("cpu"))
    assert 180 < big < 260 and 10 < small < 60


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_peak_sees_a_temporary_allocation() -> None:
    device = torch.device("cuda")
    peak = peak_memory_mib(lambda: torch.ones(64 * 2**20 // 4, device=device).sum(), device=device)
    assert 63 < peak < 80


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_timing_waits_for_the_kernels() -> None:
    from bench.utils.measure import time_call

    device = torch.device("cuda")
    a = torch.randn(2048, 2048, device=device)
    small = time_call(lambda: a @ a, device=device, batch_size=1, warmup=1, repeats=5).median_ms
    large = time_call(lambda: [a @ a for _ in range(8)], device=device, batch_size=1, warmup=1, repeats=5).median_ms
    # Without synchronising, both would time only the kernel launches and come out about equal.
    assert small > 0 and large > 4 * small
