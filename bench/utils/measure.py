"""Runtime and peak memory of a call, measured honestly on CPU and CUDA.

Runtime: warm-up calls, then repeats; CUDA is synchronised around each call and timed with events.
Memory on CUDA: max_memory_allocated minus what was allocated before the call.
Memory on CPU (Linux): the call's peak resident set size above the resident size before it. Freed
heap memory is first returned to the OS (gc + glibc malloc_trim) so that the call has to fault its
pages in again, then the kernel's high-water mark is reset (/proc/self/clear_refs, value 5) and read
back from VmHWM after the call. Elsewhere CPU memory is reported as unavailable (NaN), never guessed.
"""

from __future__ import annotations

import ctypes
import gc
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

_PROC = Path("/proc/self")


@dataclass(frozen=True)
class Timing:
    """Milliseconds per sample: median and interquartile range over repeats, at a stated batch size."""

    median_ms: float
    iqr_ms: float
    batch_size: int
    repeats: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _elapsed_ms(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        _sync(device)
        start.record()
        fn()
        end.record()
        _sync(device)
        return start.elapsed_time(end)
    begin = time.perf_counter()
    fn()
    return (time.perf_counter() - begin) * 1000.0


def time_call(fn: Callable[[], object], *, device: torch.device, batch_size: int, warmup: int, repeats: int) -> Timing:
    """Median and IQR of fn's milliseconds per sample after warm-up calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    per_sample = [_elapsed_ms(fn, device) / batch_size for _ in range(repeats)]
    if repeats >= 2:
        q1, _, q3 = statistics.quantiles(per_sample, n=4, method="inclusive")
    else:
        q1 = q3 = per_sample[0]
    return Timing(statistics.median(per_sample), q3 - q1, batch_size, repeats)


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", (_PROC / "status").read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{field} not in /proc/self/status")
    return int(match.group(1))


def _reset_cpu_peak() -> int:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    (_PROC / "clear_refs").write_text("5")
    return _status_kib("VmRSS")


def cpu_memory_supported() -> bool:
    """Whether the peak-RSS method works on this system."""
    try:
        _reset_cpu_peak()
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


def peak_memory_mib(fn: Callable[[], object], *, device: torch.device) -> float:
    """Peak memory fn adds while it runs, in MiB (NaN where it cannot be measured)."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not cpu_memory_supported():
        return float("nan")
    base_kib = _reset_cpu_peak()
    fn()
    return max(_status_kib("VmHWM") - base_kib, 0) / 1024.0


def device_description(device: torch.device) -> str:
    """The device in words (GPU name, or CPU and thread count)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
