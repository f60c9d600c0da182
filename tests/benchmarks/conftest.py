"""Speed benchmarks, in-house against Captum and pytorch-grad-cam: shared model, result collection, the ratio table.

Every benchmark sets benchmark.group to its method and puts implementation, input, setup and peak_mib in
benchmark.extra_info (reference=True on the in-house row of a group). An autouse fixture collects them with
the median of the timed rounds; at session end the table (third-party median / in-house median per method)
is printed and written to results/benchmarks/cpu.md, or gpu.md when the benchmarks ran on CUDA. The file is written only when every
benchmark of the module ran (extra_info["cases_total"]), so a run narrowed with -k prints its table but
leaves the stored one alone; nothing happens when no benchmark ran (the default test run skips them
through --benchmark-skip).
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

_ROWS = pytest.StashKey[list[dict]]()
_REPORT = pytest.StashKey[tuple[str, str]]()


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
def _collect(benchmark, request: pytest.FixtureRequest) -> None:
    """After each benchmark: keep its group, extra_info and median for the session's ratio table."""
    yield
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "has_error", False):
        return
    info = dict(benchmark.extra_info)
    request.config.stash.setdefault(_ROWS, []).append({
        "method": benchmark.group or info.get("method", request.node.name),
        "implementation": info.get("implementation", request.node.name),
        "reference": bool(info.get("reference", False)),
        "input": info.get("input", ""),
        "setup": info.get("setup", ""),
        "device": info.get("device", ""),
        "device_type": info.get("device_type", "cpu"),
        "median_ms": stats.stats.median * 1000.0,
        "iqr_ms": stats.stats.iqr * 1000.0,
        "min_ms": stats.stats.min * 1000.0,
        "rounds": stats.stats.rounds,
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "cases_total": int(info.get("cases_total", 0)),
        "peak_mib": info.get("peak_mib", float("nan")),
    })


def _num(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _ratio(value: float, reference: float) -> str:
    if any(v is None or math.isnan(v) for v in (value, reference)) or reference <= 0:
        return "n/a"
    return f"{value / reference:.2f}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def render(rows: list[dict]) -> str:
    """The Markdown report: one table, rows grouped by method with the in-house row first."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["method"], []).append(row)
    devices = sorted({r["device"] for r in rows})
    versions = (f"torch {torch.__version__}, torchvision {_version('torchvision')}, captum {_version('captum')}, "
                f"grad-cam {_version('grad-cam')}, pytest-benchmark {_version('pytest-benchmark')}, Python {sys.version.split()[0]}")
    written = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [
        "# Speed benchmarks: in-house vs Captum and pytorch-grad-cam",
        "",
        f"- Device: {'; '.join(devices)}",
        f"- {versions}",
        f"- Written {written} by `make benchmarks` (tests/benchmarks/test_speed.py)",
        "- Model: torchvision resnet18(num_classes=2), torch.manual_seed(0), eval mode; same inputs, targets and parameters for every "
        + "implementation of a method.",
        "- median ms: median wall time of one attribute call over the timed rounds (after 1 warm-up round). peak MiB: "
        + "bench.measure.peak_memory_mib of one further call (CPU: rise of VmHWM over the resident size before the call; "
        + "CUDA: max_memory_allocated above the allocation before it).",
        "- Ratios are third-party / in-house: above 1 the in-house implementation is faster (time) or smaller (peak), "
        + "below 1 it is slower or larger. The time ratio is the ratio of medians; the ratio of minimums is given too, as "
        + "it is less sensitive to other processes competing for the CPU.",
        "- load: the 1-minute load average when the benchmark finished. The benchmark itself contributes about "
        + f"{torch.get_num_threads()} (torch threads); clearly more than that means other processes shared the cores and "
        + "the timings of that row are inflated (OpenMP threads suffer badly from oversubscription).",
        "",
        "| method | implementation | input | rounds | median ms | IQR ms | min ms | peak MiB | time ratio (medians) "
        + "| time ratio (mins) | peak ratio | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, members in groups.items():
        own = next((r for r in members if r["reference"]), None)
        members = sorted(members, key=lambda r: not r["reference"])
        for r in members:
            if own is None:
                ratios = ["n/a"] * 3
            else:
                ratios = [_ratio(r[key], own[key]) for key in ("median_ms", "min_ms", "peak_mib")]
            cells = [method, r["implementation"], r["input"], str(r["rounds"]), _num(r["median_ms"]), _num(r["iqr_ms"]), _num(r["min_ms"]),
                     _num(r["peak_mib"]), *ratios, _num(r["load"], 2)]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Setup per method", ""]
    for method, members in groups.items():
        setup = next((r["setup"] for r in members if r["setup"]), "")
        if setup:
            lines.append(f"- **{method}**: {setup}")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write results/benchmarks/{cpu,gpu}.md when every benchmark ran; keep the table for the terminal summary either way."""
    rows = session.config.stash.get(_ROWS, [])
    if not rows:
        return
    name = "gpu.md" if any(r["device_type"] == "cuda" for r in rows) else "cpu.md"
    path = Path(session.config.rootpath) / "results" / "benchmarks" / name
    text = render(rows)
    total = max(r["cases_total"] for r in rows)
    if len(rows) >= total:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        where = f"written to {path}"
    else:
        where = f"partial run, {len(rows)} of {total} benchmarks: {path} not written"
    session.config.stash[_REPORT] = (where, text)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Print the ratio table after pytest-benchmark's own tables."""
    report = config.stash.get(_REPORT, None)
    if report is None:
        return
    where, text = report
    terminalreporter.write_sep("=", f"third-party / in-house ratios ({where})")
    for line in text.splitlines():
        terminalreporter.write_line(line)
