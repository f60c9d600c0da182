"""Chunked forward passes: sizing from a budget and the half-size retry on CUDA out-of-memory."""

from __future__ import annotations

import pytest
import torch

from bench.utils.chunking import ACTIVATION_FACTOR, AUTO_BUDGET_MIB, chunk_size, run_chunked


def test_chunk_size_from_budget() -> None:
    x = torch.zeros(2, 3, 32, 32)
    per_item = 3 * 32 * 32 * 4 * ACTIVATION_FACTOR
    assert chunk_size(x, 10 * per_item / 2**20) == 10
    assert chunk_size(x, 10 * per_item / 2**20, backward=True) == 3
    assert chunk_size(x, 0.0) == chunk_size(x, AUTO_BUDGET_MIB["cpu"])
    assert chunk_size(x, 1e-9) == 1


def test_out_of_memory_halves_the_chunk_and_keeps_order() -> None:
    sizes = []

    def fn(start: int, stop: int) -> torch.Tensor:
        sizes.append(stop - start)
        if stop - start > 3:
            raise torch.cuda.OutOfMemoryError("simulated")
        return torch.arange(start, stop)

    out = run_chunked(fn, 20, 16)
    assert out.tolist() == list(range(20))
    assert sizes[:3] == [16, 8, 4] and max(sizes[3:]) <= 3


def test_out_of_memory_at_size_one_is_raised() -> None:
    def fn(start: int, stop: int) -> torch.Tensor:
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_chunked(fn, 4, 2)
