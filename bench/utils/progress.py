"""Progress bars for every long step, written to stderr."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None, leave: bool = True) -> Iterable[T]:
    """Wrap an iterable in a progress bar; BENCH_PROGRESS=0 silences it."""
    disabled = os.environ.get("BENCH_PROGRESS", "1") == "0"
    return tqdm(items, desc=desc, unit=unit, total=total, leave=leave, disable=disabled, dynamic_ncols=True)
