"""Speed benchmarks against Captum, pytorch-grad-cam and Quantus: shared model and device, result collection, the ratio tables.

Every benchmark sets benchmark.group and puts implementation, input, setup and peak_mib in benchmark.extra_info
(reference=True on the in-house row of a group). An autouse fixture files each row under its module's REPORT
(tests/benchmarks/report.py); at session end each table (third-party / in-house per group) is printed and
written under results/benchmarks/ (cpu or gpu), only when every case of its module ran, so a run narrowed with
-k prints its table but leaves the stored one alone; nothing happens when no benchmark ran (the default test
run skips them through --benchmark-skip).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.benchmarks.report import ROWS, Report, benchmark_row, write

_WRITTEN = pytest.StashKey[list[tuple[Report, str, str]]]()


@pytest.fixture(scope="session")
def device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def model(device: torch.device) -> torch.nn.Module:
    """A fresh ResNet-18 with two classes, identical weights every time (fixed seed), in eval mode."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=2).eval().to(device)
    yield net
    net.zero_grad(set_to_none=True)


@pytest.fixture(scope="session")
def device_name(device: torch.device) -> str:
    """The accelerator's name, or the CPU model with its core and thread counts."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name} ({os.cpu_count()} cores visible, torch uses {torch.get_num_threads()} threads)"


@pytest.fixture(autouse=True)
def _collect(benchmark, request: pytest.FixtureRequest) -> Iterator[None]:
    """After each benchmark: file its row under its module's REPORT, for the session's ratio tables."""
    yield
    row = benchmark_row(benchmark, request.node.name)
    report = getattr(request.module, "REPORT", None)
    if row is None or report is None:
        return
    request.config.stash.setdefault(ROWS, {}).setdefault(report, (len(request.module.CASES), []))[1].append(row)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write each module's table when all its benchmarks ran; keep the tables for the terminal summary either way."""
    reports = session.config.stash.get(ROWS, {})
    session.config.stash[_WRITTEN] = [(report, *write(report, rows, total, Path(session.config.rootpath)))
                                      for report, (total, rows) in reports.items()]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Print the ratio tables after pytest-benchmark's own tables."""
    for report, where, text in config.stash.get(_WRITTEN, []):
        terminalreporter.write_sep("=", f"{report.group}s: third-party / in-house ratios ({where})")
        for line in text.splitlines():
            terminalreporter.write_line(line)
